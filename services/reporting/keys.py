"""Identity keys: how reporting ties touchpoints to leads without asking scoring.

A touchpoint is filed under its strongest key (userId, then email, then anonymousId; an
email open or click names its lead directly). Lead events carry the lead's facts (its id,
userIds, email and anonymousIds), and each becomes a key pointing at the lead. A touch
belongs to the lead its key points at, whenever that link arrives (docs/decisions/0010).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _email(value: Any) -> str | None:
    if not isinstance(value, str) or "@" not in value:
        return None
    return value.strip().lower() or None


def touch_key(event_type: str, payload: Mapping[str, Any]) -> str | None:
    if event_type.startswith("email.") and payload.get("lead_id"):
        return f"lead:{payload['lead_id']}"
    if payload.get("user_id"):
        return f"user:{payload['user_id']}"
    traits = payload.get("traits") if event_type == "identify" else None
    for source in (traits, (payload.get("context") or {}).get("traits")):
        if isinstance(source, Mapping) and (email := _email(source.get("email"))):
            return f"email:{email}"
    if payload.get("anonymous_id"):
        return f"anon:{payload['anonymous_id']}"
    return None


def lead_keys(facts: Mapping[str, Any]) -> list[str]:
    """The keys a lead event's facts name (LeadFacts: lead_id, email, user_ids, anonymous_ids)."""
    keys = [f"lead:{facts['lead_id']}"]
    keys += [f"user:{u}" for u in facts.get("user_ids") or ()]
    if email := _email(facts.get("email")):
        keys.append(f"email:{email}")
    keys += [f"anon:{a}" for a in facts.get("anonymous_ids") or ()]
    return keys


def utm(payload: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(source, medium, campaign) of a touch: Segment's context.campaign (what the browser
    tracker sends, campaign under `name`), else utm_* properties; all None without a source
    (a touch without one is direct)."""
    found = (payload.get("context") or {}).get("campaign")
    if isinstance(found, Mapping) and found.get("source"):
        values = (
            found.get("source"),
            found.get("medium"),
            found.get("name") or found.get("campaign"),
        )
    else:
        props = payload.get("properties") or {}
        if not isinstance(props, Mapping) or not props.get("utm_source"):
            return None, None, None
        values = (props.get("utm_source"), props.get("utm_medium"), props.get("utm_campaign"))
    source, medium, campaign = (str(v) if v not in (None, "") else None for v in values)
    return source, medium, campaign
