"""What an event tells nurture about a lead (pure: the handlers' decisions, no I/O).

- which keys a touchpoint names its person by (``touchpoint_keys``);
- what a lead event says of the person (``lead_update``): nurture's copy and its keys;
- how branch conditions and exit criteria name an event (``event_name``), and the recent
  events kept per lead (``recent_events``);
- which engagement counter an email event moves (``engagement_kind``);
- the facts exit criteria are checked against (``exit_facts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.events.types import (
    EmailBounced,
    Identified,
    LeadFacts,
    LeadLifecycleChanged,
    Payload,
    Touchpoint,
    Tracked,
)

RECENT_EVENTS = 50  # kept per lead for branch conditions ("clicked within 7 days")
LEAD_FACT_TYPES = ("lead.scored", "lead.lifecycle_changed", "lead.stalled")

Key = tuple[Literal["user", "email"], str]


def touchpoint_keys(event_type: str, data: Touchpoint) -> list[Key]:
    """The keys a touchpoint names its person by: its userId, then the email of its traits
    (identify) or of its context's traits (lower-cased)."""
    traits: Mapping[str, Any] = data.traits if isinstance(data, Identified) else {}
    context_traits = data.context.get("traits") or {}
    email = traits.get("email") or (
        context_traits.get("email") if isinstance(context_traits, Mapping) else None
    )
    keys: list[Key] = [("user", str(data.user_id))] if data.user_id else []
    if isinstance(email, str) and "@" in email:
        keys.append(("email", email.strip().lower()))
    return keys


@dataclass(frozen=True)
class LeadUpdate:
    """Nurture's copy of a lead, as a lead event has it, and the keys to remember."""

    values: dict[str, Any] = field(default_factory=dict)
    keys: list[Key] = field(default_factory=list)


def lead_update(data: LeadFacts) -> LeadUpdate:
    """What a lead event (scored, lifecycle changed, stalled) says of the person: traits,
    email, the scores it carries, the stage it moved to; userIds and email as keys."""
    traits = dict(data.traits or {})
    values: dict[str, Any] = {"traits": traits, "email": data.email or traits.get("email")}
    for name in ("score", "fit", "engagement"):
        if (value := getattr(data, name, None)) is not None:
            values[name] = value
    if isinstance(data, LeadLifecycleChanged):
        values["stage"] = data.to_stage
    keys: list[Key] = [("user", str(u)) for u in data.user_ids or []]
    if values["email"]:
        keys.append(("email", str(values["email"]).strip().lower()))
    return LeadUpdate(values, keys)


def event_name(event_type: str, data: Payload) -> str:
    """How branch conditions and exit criteria name an event: a track event by its name,
    everything else by its type."""
    if isinstance(data, Tracked):
        return data.event or "track"
    return event_type


def recent_events(
    events: Sequence[Sequence[Any]], name: str, at: datetime
) -> list[list[Any] | Sequence[Any]]:
    """The lead's recent ``[name, at]`` pairs with this event added (the last 50)."""
    return [*events, [name, at.isoformat()]][-RECENT_EVENTS:]


EngagementKind = Literal["opened", "clicked", "unsubscribed"]
_ENGAGEMENT: dict[str, EngagementKind] = {
    "email.opened": "opened",
    "email.clicked": "clicked",
    "email.unsubscribed": "unsubscribed",
}


def engagement_kind(event_type: str) -> EngagementKind | None:
    """Which counter of its send an email event moves (results per step and variant)."""
    return _ENGAGEMENT.get(event_type)


@dataclass(frozen=True)
class ExitFacts:
    """What exit criteria are checked against (``sequences.exit_reason``)."""

    stage: str | None = None
    event: str | None = None
    unsubscribed: bool = False
    hard_bounced: bool = False


def exit_facts(event_type: str, data: Payload) -> ExitFacts | None:
    """The exit facts of an event; None when it can end no enrollment (a score or a stall)."""
    stage = data.to_stage if isinstance(data, LeadLifecycleChanged) else None
    event = None if event_type in LEAD_FACT_TYPES else event_name(event_type, data)
    if stage is None and event is None:
        return None
    return ExitFacts(
        stage=stage,
        event=event,
        unsubscribed=event_type == "email.unsubscribed",
        hard_bounced=isinstance(data, EmailBounced) and data.kind == "hard",
    )
