"""One poll of the three topics reporting reads, applied in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

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
    re-file what the same poll brought of the person. The lead and email events of the poll
    are claimed in the inbox with one statement; touchpoints are not: `touches` keeps every
    touch by its event id, so it is their inbox (a touch already there has no effect, even
    after the inbox forgot it), and claiming them too would write each id twice
    (docs/decisions/0037)."""
    lead, email, erased, claimable = [], [], [], []
    touch: dict[UUID, Envelope] = {}
    for e in envelopes:
        if e.type.startswith("lead.") or e.type in EMAIL_EVENTS or e.type.startswith("enrollment."):
            claimable.append(e)
        elif e.type != "workspace.changed":
            touch.setdefault(e.id, e)  # a poll may carry the same message twice
    for e in await uow.claim_batch(claimable):
        if e.type == "lead.erased":
            erased.append(e)
        elif e.type.startswith("lead."):
            lead.append(e)
        else:
            email.append(e)
    session = uow.session
    await lead_model.apply_claimed(session, lead, pseudonymize)
    await touch_model.apply_claimed(session, list(touch.values()), pseudonymize)
    await email_model.apply_claimed(session, email)
    await erasure.forget(session, erased)
    await credit_model.flush(session)
