"""Identity stitching: which lead an event belongs to, which leads are one person.

Pure logic, no I/O: the handler looks up who owns each identifier, calls `resolve`, and
stores the outcome. A lead is one person in one workspace. Rules:
- an anonymous browser id joins the known person it is identified as, and its history with it;
- userId outranks email: the same userId is the same person even with another email;
- two different known people (different userIds, or no userId and no email in common) are
  never merged automatically: the clash is returned as a conflict, for a person to look at;
- `alias` links its previousId (taken as an anonymous id) to its userId.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from shared.privacy import normalize_email

Kind = Literal["user", "email", "anonymous"]
STRENGTH: dict[str, int] = {"user": 3, "email": 2, "anonymous": 1}


class Identifier(NamedTuple):
    """Ordered by kind, then value. A tuple (not a dataclass): identifiers are hashed and
    compared several times per event, and a tuple does both in C."""

    kind: Kind
    value: str


@dataclass(frozen=True)
class Conflict:
    """Two leads that look like one person but carry different known identities."""

    lead_id: str | None  # None: the lead this event creates
    other_lead_id: str
    reason: str


@dataclass
class Resolution:
    lead_id: str | None  # the lead the event applies to; None means create one
    link: set[Identifier] = field(default_factory=set)  # identifiers to attach to it
    merge: list[str] = field(default_factory=list)  # leads to fold into it, history and all
    conflicts: list[Conflict] = field(default_factory=list)


def identifiers_of(event_type: str, payload: Mapping[str, Any]) -> list[Identifier]:
    """The identifiers a touchpoint carries, strongest first."""
    found: list[Identifier] = []
    if payload.get("user_id"):
        found.append(Identifier("user", str(payload["user_id"])))
    traits = payload.get("traits") if event_type == "identify" else None
    context_traits = (payload.get("context") or {}).get("traits")
    for source in (traits, context_traits):
        email = normalize_email((source or {}).get("email"))
        if email:
            found.append(Identifier("email", email))
            break
    if payload.get("anonymous_id"):
        found.append(Identifier("anonymous", str(payload["anonymous_id"])))
    if event_type == "alias" and payload.get("previous_id"):
        found.append(Identifier("anonymous", str(payload["previous_id"])))
    return sorted(set(found), key=lambda i: -STRENGTH[i.kind])


def same_person_possible(a: Iterable[Identifier], b: Iterable[Identifier]) -> tuple[bool, str]:
    """Could identifier sets a and b belong to one person? (and if not, why)"""
    a, b = set(a), set(b)
    users_a, users_b = _values(a, "user"), _values(b, "user")
    if users_a and users_b:
        if users_a & users_b:
            return True, ""
        return False, f"different userIds {sorted(users_a)} and {sorted(users_b)}"
    emails_a, emails_b = _values(a, "email"), _values(b, "email")
    if emails_a and emails_b and not emails_a & emails_b:
        return False, f"different emails {sorted(emails_a)} and {sorted(emails_b)}"
    return True, ""


def _values(ids: set[Identifier], kind: str) -> set[str]:
    return {i.value for i in ids if i.kind == kind}


def resolve(
    event_ids: list[Identifier], owners: Mapping[Identifier, tuple[str, frozenset[Identifier]]]
) -> Resolution:
    """Decide where an event goes.

    `owners` maps each of the event's identifiers that a lead already has to that lead's
    id and all its identifiers.
    """
    # Leads touched by this event, the one holding the strongest identifier first.
    leads: dict[str, frozenset[Identifier]] = {}
    for identifier in sorted(event_ids, key=lambda i: -STRENGTH[i.kind]):
        if identifier in owners:
            lead_id, ids = owners[identifier]
            leads.setdefault(lead_id, ids)
    person: set[Identifier] = set(event_ids)
    resolution = Resolution(lead_id=None)
    clashing: list[tuple[str, str]] = []
    for lead_id, ids in leads.items():
        possible, reason = same_person_possible(person, ids)
        if not possible:
            clashing.append((lead_id, reason))
        elif resolution.lead_id is None:
            resolution.lead_id = lead_id
            person |= ids
        else:
            resolution.merge.append(lead_id)
            person |= ids
    owned = set(owners)
    resolution.link = {i for i in event_ids if i not in owned}
    resolution.conflicts = [
        Conflict(resolution.lead_id, other, reason) for other, reason in clashing
    ]
    return resolution
