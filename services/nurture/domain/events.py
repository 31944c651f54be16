"""The events nurture publishes (``email.*``, ``enrollment.*``), with ids derived from what
they are about: the same fact always has the same event id, whoever records it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.nurture.domain.delivery import DueSend
from services.nurture.domain.unsubscribe import UnsubscribeToken, unsubscribed_event_id
from shared.events import Envelope

_EMAIL_IDS = uuid.UUID("0c8e4a57-3b1d-4f2e-a9c6-7d5b1e2f8a34")
_ENROLLMENT_IDS = uuid.UUID("9a1f7c3e-2b4d-4e8f-8c6a-1d2e3f4a5b6c")


def event_id(kind: str, send_id: str) -> uuid.UUID:
    """The id of a send's ``email.sent`` / ``email.bounced``: one per send, whoever emits it."""
    return uuid.uuid5(_EMAIL_IDS, f"{kind}:{send_id}")


def email_event(event_type: str, send: DueSend, at: datetime, **extra: Any) -> Envelope:
    return Envelope(
        id=event_id(event_type, send.id),
        type=event_type,
        workspace_id=send.workspace_id,
        lead_key=send.lead_id,
        occurred_at=at,
        payload={
            "lead_id": send.lead_id,
            "send_id": send.id,
            "sequence_id": send.sequence_id,
            "step_id": send.step_id,
            "version": send.version,
            "variant_id": send.variant_id,
            "template_id": send.template_id,
            **extra,
        },
    )


def sent_event(send: DueSend, at: datetime, *, to: str, subject: str, **extra: Any) -> Envelope:
    return email_event(
        "email.sent", send, at, to=to, subject=subject, message_id=send.message_id, **extra
    )


@dataclass(frozen=True)
class SendOrigin:
    """The send an unsubscribe link came from, as nurture stored it."""

    sequence_id: str
    version: int
    step_id: str
    variant_id: str | None = None


def unsubscribed_event(
    link: UnsubscribeToken, email: str, send: SendOrigin | None, at: datetime
) -> Envelope:
    """``email.unsubscribed``: one per address and workspace, whichever link was used;
    ``send`` is None when the send is no longer known."""
    return Envelope(
        id=unsubscribed_event_id(link.workspace_id, email),
        type="email.unsubscribed",
        workspace_id=link.workspace_id,
        lead_key=link.lead_id,
        occurred_at=at,
        payload={
            "lead_id": link.lead_id,
            "send_id": link.send_id,
            "sequence_id": send.sequence_id if send else None,
            "step_id": send.step_id if send else None,
            "version": send.version if send else None,
            "variant_id": send.variant_id if send else None,
            "email": email,
        },
    )


def enrollment_event(
    kind: str, workspace_id: str, lead_id: str, at: datetime, **payload: Any
) -> Envelope:
    """``enrollment.started`` / ``.completed`` / ``.exited``: one per enrollment each."""
    key = f"{kind}:{payload.get('enrollment_id')}"
    return Envelope(
        id=uuid.uuid5(_ENROLLMENT_IDS, key),
        type=kind,
        workspace_id=workspace_id,
        lead_key=lead_id,
        occurred_at=at,
        payload={"lead_id": lead_id, **payload},
    )


def enrollment_id(sequence_id: str, trigger: str) -> str:
    """The same trigger occurrence always names the same enrollment (exactly once)."""
    return "enr_" + uuid.uuid5(_ENROLLMENT_IDS, f"{sequence_id}:{trigger}").hex[:16]
