"""One poll of the three topics reporting reads, applied in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from services.reporting import credit_model, email_model, erasure, lead_model, touch_model
from services.reporting.pseudonyms import Pseudonymize
from shared.db import UnitOfWork
from shared.events import Envelope

# On leadflow.email-events (opens and clicks arrive as touchpoints).
EMAIL_EVENTS = ("email.sent", "email.bounced", "email.unsubscribed")


async def apply_events(
    uow: UnitOfWork, envelopes: Sequence[Envelope], *, pseudonymize: Pseudonymize
) -> None:
    """Lead events first (their keys and merges), then touchpoints, then email events; each
    model is order-independent, so this order only saves work. Erasures come last: they
    re-file what the same poll brought of the person. The whole poll is claimed in the
    inbox with one statement."""
    lead, touch, email, erased = [], [], [], []
    for e in await uow.claim_batch(envelopes):
        if e.type == "lead.erased":
            erased.append(e)
        elif e.type.startswith("lead."):
            lead.append(e)
        elif e.type in EMAIL_EVENTS or e.type.startswith("enrollment."):
            email.append(e)
        elif e.type != "workspace.changed":
            touch.append(e)
    session = uow.session
    await lead_model.apply_claimed(session, lead, pseudonymize)
    await touch_model.apply_claimed(session, touch, pseudonymize)
    await email_model.apply_claimed(session, email)
    await erasure.forget(session, erased)
    await credit_model.flush(session)
