"""One poll of the three topics reporting reads, applied in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from services.reporting import email_model, lead_model, touch_model
from shared.db import UnitOfWork
from shared.events import Envelope

# On leadflow.email-events (opens and clicks arrive as touchpoints).
EMAIL_EVENTS = ("email.sent", "email.bounced", "email.unsubscribed")


async def apply_events(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
    """Lead events first (their keys and merges), then touchpoints, then email events; each
    model is order-independent, so this order only saves work."""
    lead, touch, email = [], [], []
    for e in envelopes:
        if e.type.startswith("lead."):
            lead.append(e)
        elif e.type in EMAIL_EVENTS or e.type.startswith("enrollment."):
            email.append(e)
        elif e.type != "workspace.changed":
            touch.append(e)
    await lead_model.apply_lead_events(uow, lead)
    await touch_model.apply_touchpoints(uow, touch)
    await email_model.apply_email_events(uow, email)
