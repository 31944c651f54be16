"""What the scoring service does with each message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from services.scoring import leads
from services.scoring.identity import identifiers_of, resolve
from shared.db import UnitOfWork
from shared.errors import PermanentError
from shared.events import Envelope

EMAIL_EVENTS = {
    "email.opened",
    "email.clicked",
    "email.sent",
    "email.bounced",
    "email.unsubscribed",
}


async def apply_touchpoints(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
    """One partition's batch, in the caller's transaction: each new event to its lead."""
    todo = await uow.claim_batch(envelopes)
    # Identities of one person can arrive on two partitions (anonymous, then user key):
    # resolving a workspace's identities one transaction at a time keeps them consistent.
    for workspace_id in sorted({e.workspace_id for e in todo}):
        await uow.session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext(f"identity:{workspace_id}")))
        )
    for envelope in todo:
        await apply_touchpoint(uow, envelope)


async def apply_touchpoint(uow: UnitOfWork, envelope: Envelope) -> str:
    """Stitch the event to its lead, note what it says of the person and count it in the
    lead's features; returns the lead id."""
    session, ws, payload = uow.session, envelope.workspace_id, envelope.payload
    if envelope.type in EMAIL_EVENTS:
        lead_id = await leads.live_id(session, ws, str(payload.get("lead_id")))
        if lead_id is None:
            raise PermanentError(f"{envelope.type} for unknown lead {payload.get('lead_id')!r}")
    else:
        ids = identifiers_of(envelope.type, payload)
        if not ids:
            raise PermanentError("touchpoint carries no identifier")
        resolution = resolve(ids, await leads.owners(session, ws, ids))
        lead_id = resolution.lead_id or await leads.create(session, ws, envelope.occurred_at)
        await leads.link(session, ws, lead_id, resolution.link)
        for folded in resolution.merge:
            await leads.merge(session, ws, into=lead_id, lead_id=folded)
        await leads.record_conflicts(session, ws, lead_id, resolution.conflicts, envelope.id)
    await leads.touch(session, lead_id, seen_at=envelope.occurred_at, traits=traits_of(envelope))
    history = await leads.features_of(session, lead_id)
    history.add(envelope.type, payload, envelope.occurred_at)
    await leads.save_features(session, lead_id, history)
    return lead_id


def traits_of(envelope: Envelope) -> dict[str, Any]:
    """What an event tells of the person: identify traits; a group's traits as the company."""
    payload = envelope.payload
    if envelope.type == "identify":
        return dict(payload.get("traits") or {})
    if envelope.type == "group":
        return {"company": {"id": payload.get("group_id"), **(payload.get("traits") or {})}}
    return {}
