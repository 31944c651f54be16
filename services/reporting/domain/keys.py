"""Identity keys: how reporting ties touchpoints to leads without asking scoring.

A touchpoint is filed under its strongest key (userId, then email, then anonymousId; an
email open or click names its lead directly). Lead events carry the lead's facts (its id,
userIds, email and anonymousIds), and each becomes a key pointing at the lead. A touch
belongs to the lead its key points at, whenever that link arrives (docs/decisions/0010).

Touch payloads are read through their models; `getattr` with a default reads a field the
type may lack (or carry as an extra: Segment's vocabulary is open), as the payload's dict did.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.events.types import EmailEvent, Identified, LeadFacts, Payload


def _email(value: Any) -> str | None:
    if not isinstance(value, str) or "@" not in value:
        return None
    return value.strip().lower() or None


def touch_key(data: Payload) -> str | None:
    """The key a touch is filed under (None: it names nobody)."""
    if isinstance(data, EmailEvent) and data.lead_id:
        return f"lead:{data.lead_id}"
    if user_id := getattr(data, "user_id", None):
        return f"user:{user_id}"
    traits = data.traits if isinstance(data, Identified) else None
    context = getattr(data, "context", None) or {}
    for source in (traits, context.get("traits")):
        if isinstance(source, Mapping) and (email := _email(source.get("email"))):
            return f"email:{email}"
    if anonymous_id := getattr(data, "anonymous_id", None):
        return f"anon:{anonymous_id}"
    return None


def lead_keys(facts: LeadFacts) -> list[str]:
    """The keys a lead event's facts name: its id, userIds, email and anonymousIds."""
    keys = [f"lead:{facts.lead_id}"]
    keys += [f"user:{u}" for u in facts.user_ids]
    if email := _email(facts.email):
        keys.append(f"email:{email}")
    keys += [f"anon:{a}" for a in facts.anonymous_ids]
    return keys


def utm(data: Payload) -> tuple[str | None, str | None, str | None]:
    """(source, medium, campaign) of a touch: Segment's context.campaign (what the browser
    tracker sends, campaign under `name`), else utm_* properties; all None without a source
    (a touch without one is direct)."""
    found = (getattr(data, "context", None) or {}).get("campaign")
    if isinstance(found, Mapping) and found.get("source"):
        values = (
            found.get("source"),
            found.get("medium"),
            found.get("name") or found.get("campaign"),
        )
    else:
        props = getattr(data, "properties", None) or {}
        if not isinstance(props, Mapping) or not props.get("utm_source"):
            return None, None, None
        values = (props.get("utm_source"), props.get("utm_medium"), props.get("utm_campaign"))
    source, medium, campaign = (str(v) if v not in (None, "") else None for v in values)
    return source, medium, campaign
