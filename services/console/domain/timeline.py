"""A lead's timeline items (scoring's /timeline) in plain words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EMAIL_VERBS = {
    "email.sent": "Email sent",
    "email.opened": "Email opened",
    "email.clicked": "Email link clicked",
    "email.bounced": "Email bounced",
    "email.unsubscribed": "Unsubscribed",
}


def _where(detail: Mapping[str, Any]) -> str:
    props = detail.get("properties") or {}
    return str(detail.get("name") or props.get("path") or props.get("url") or "a page")


def describe(item: Mapping[str, Any]) -> str:
    kind = str(item.get("kind", ""))
    detail: Mapping[str, Any] = item.get("detail") or {}
    if kind == "stage":
        text = f"Stage {detail.get('from') or '(new)'} → {detail.get('to')}"
        if detail.get("reason"):
            text += f": {detail['reason']}"
        if detail.get("actor"):
            text += f" (by {detail['actor']})"
        return text
    if kind == "track":
        return f"Did “{detail.get('event', 'an event')}”"
    if kind == "page":
        return f"Viewed {_where(detail)}"
    if kind == "screen":
        return f"Viewed screen {_where(detail)}"
    if kind == "identify":
        traits = detail.get("traits") or {}
        who = traits.get("email") or detail.get("user_id") or "a known person"
        return f"Identified as {who}"
    if kind in EMAIL_VERBS:
        text = EMAIL_VERBS[kind]
        if detail.get("subject"):
            text += f": “{detail['subject']}”"
        elif detail.get("step_id"):
            text += f" (step {detail['step_id']})"
        if kind == "email.clicked" and detail.get("url"):
            text += f" → {detail['url']}"
        return text
    if kind in ("group", "alias"):
        return kind.capitalize()
    return kind or "Event"
