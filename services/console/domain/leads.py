"""Leads as the console shows them: the list's filters, sorting and page links, one lead's
email and enrollments, and sales' lifecycle decisions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.console.domain.timeline import describe
from shared.events import STAGES

LIST_STAGES = list(STAGES)
SORTS = {
    "-score": "Score, highest first",
    "score": "Score, lowest first",
    "-updated_at": "Recently updated first",
    "updated_at": "Least recently updated first",
}
DEFAULT_SORT = "-score"
PAGE_SIZE = 25
# Sales' decisions on an MQL: the stage it moves to -> what the flash message says.
DECISIONS = {"sql": "accepted", "recycled": "recycled", "disqualified": "disqualified"}
FIRST = "~"  # the first page in a trail (cursors are URL-safe base64: never "~" or ".")


def page_links(
    cursor: str, trail: str, next_cursor: str | None
) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """(previous, next) page parameters. Keyset cursors only go forward, so each link
    carries the trail of the cursors of the pages before it."""
    earlier = [c for c in trail.split(".") if c] if trail else []
    previous = None
    if cursor:
        back = earlier[-1] if earlier else FIRST
        previous = {"cursor": "" if back == FIRST else back, "trail": ".".join(earlier[:-1])}
    following = None
    if next_cursor:
        following = {"cursor": next_cursor, "trail": ".".join([*earlier, cursor or FIRST])}
    return previous, following


def list_query(stage: str, min_score: str, email: str, sort: str) -> dict[str, str]:
    """The list's filters as they go in links (empty ones left out; an unknown sort is the
    default one)."""
    sort = sort if sort in SORTS else DEFAULT_SORT
    values = {"stage": stage, "min_score": min_score, "email": email.strip(), "sort": sort}
    return {k: v for k, v in values.items() if v}


def primary_email(lead: Mapping[str, Any]) -> str | None:
    """The lead's email identity, if it has one."""
    identities: Iterable[Mapping[str, Any]] = lead.get("identities") or []
    return next((i["value"] for i in identities if i["kind"] == "email"), None)


def named_enrollments(
    enrollments: Iterable[Mapping[str, Any]], sequences: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each enrollment with its sequence's name (its id when the sequence is unknown)."""
    names = {s["id"]: s["name"] for s in sequences}
    return [{**e, "name": names.get(e["sequence_id"], e["sequence_id"])} for e in enrollments]


def worded_timeline(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{**item, "text": describe(item)} for item in items]


@dataclass(frozen=True)
class Decision:
    """A sales decision as the form gave it: what to send scoring, or why not."""

    stage: str
    reason: str
    problem: str | None = None

    @property
    def body(self) -> dict[str, str]:
        return {"stage": self.stage, "reason": self.reason or "accepted by sales"}

    @property
    def done(self) -> str:
        return f"Lead {DECISIONS[self.stage]}."


def decision(stage: str, reason: str) -> Decision:
    """Accepting needs nothing more; recycling or disqualifying needs a reason."""
    reason = reason.strip()
    if stage not in DECISIONS:
        return Decision(stage, reason, f"Unknown decision {stage!r}.")
    if stage != "sql" and not reason:
        return Decision(stage, reason, "Give a reason to recycle or disqualify a lead.")
    return Decision(stage, reason)
