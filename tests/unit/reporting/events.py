"""Envelopes of the types reporting reads, for its unit tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import Envelope

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WS = "ws_1"


def event(
    type: str,
    payload: dict[str, Any],
    *,
    at: datetime = T0,
    ws: str = WS,
    id: uuid.UUID | None = None,
) -> Envelope:
    return Envelope(
        id=id or uuid.uuid4(),
        type=type,
        workspace_id=ws,
        lead_key="k",
        occurred_at=at,
        payload=payload,
    )


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def page(anonymous_id: str = "a1", **fields: Any) -> Envelope:
    return event("page", {"message_id": uuid.uuid4().hex, "anonymous_id": anonymous_id, **fields})


def moved(lead: str, to: str, *, at: datetime = T0, **fields: Any) -> Envelope:
    payload = {"lead_id": lead, "from_stage": None, "to_stage": to, "reason": "test", **fields}
    return event("lead.lifecycle_changed", payload, at=at)


def scored(lead: str, **facts: Any) -> Envelope:
    payload = {"lead_id": lead, "score": 50, "probability": 0.5, "model_version": "v1", **facts}
    return event("lead.scored", payload)


def merged(into: str, *folded: str) -> Envelope:
    return event("lead.merged", {"lead_id": into, "merged_lead_ids": list(folded)})


def email(
    type: str, send: str, lead: str = "ld_1", *, at: datetime = T0, **fields: Any
) -> Envelope:
    extra: dict[str, Any] = {"to": "a@x.io", "subject": "Hi"} if type == "email.sent" else {}
    if type == "email.bounced":
        extra = {"kind": "hard"}
    if type == "email.clicked":
        extra = {"url": "https://x.io"}
    payload = {"lead_id": lead, "send_id": send, **extra, **fields}
    return event(type, payload, at=at)


def enrollment(
    type: str,
    enrollment_id: str,
    lead: str = "ld_1",
    sequence: str = "seq_1",
    *,
    at: datetime = T0,
    **fields: Any,
) -> Envelope:
    payload = {
        "lead_id": lead,
        "enrollment_id": enrollment_id,
        "sequence_id": sequence,
        "version": 1,
        **fields,
    }
    return event(type, payload, at=at)
