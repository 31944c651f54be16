"""What nurture does with lead events, touchpoints and its own email events: keep its copy
of each lead, enroll leads whose event triggers an active sequence (exactly once per
trigger occurrence, honouring the re-entry policy), and end enrollments whose exit criteria
the event meets, at once.

``HANDLERS`` maps each event type nurture reacts to to its handler; ``apply_events`` is the
consumer entry main.py gives the runtime: everything runs in the consumer's transaction
(inbox claim, effects, outbox). Types without a handler are ignored. The decisions are pure
(``domain.leads``, ``domain.sequences``); the handlers load, ask and write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from services.nurture.domain.leads import (
    engagement_kind,
    event_name,
    exit_facts,
    lead_update,
    recent_events,
    touchpoint_keys,
)
from services.nurture.domain.lifecycle import exit_reason, triggered_by
from services.nurture.store import enrollments, erasure
from services.nurture.store import leads as lead_store
from services.nurture.store.enrollments import Active
from shared.db import UnitOfWork
from shared.events import Envelope
from shared.events.types import (
    EMAIL_TYPES,
    ENROLLMENT_TYPES,
    TOUCHPOINT_TYPES,
    EmailEvent,
    EnrollmentEvent,
    LeadErased,
    LeadFacts,
    LeadMerged,
    Payload,
    Touchpoint,
)


@dataclass
class Context:
    """One batch's transaction, the email-events topic, and the active sequences of each
    workspace (loaded once per batch)."""

    uow: UnitOfWork
    topic: str
    active: dict[str, list[Active]] = field(default_factory=dict)

    async def active_sequences(self, workspace_id: str) -> list[Active]:
        if workspace_id not in self.active:
            self.active[workspace_id] = await enrollments.active_sequences(
                self.uow.session, workspace_id
            )
        return self.active[workspace_id]


Handler = Callable[[Context, Envelope], Awaitable[None]]


async def on_lead_facts(ctx: Context, e: Envelope) -> None:
    """lead.scored / lifecycle_changed / stalled: nurture's copy, then exits and triggers."""
    data = e.data_as(LeadFacts)
    update = lead_update(data)
    session = ctx.uow.session
    await lead_store.remember_keys(session, e.workspace_id, data.lead_id, update.keys)
    await lead_store.upsert(session, e.workspace_id, data.lead_id, update.values)
    await _exits_and_triggers(ctx, e, data.lead_id, data)


async def on_touchpoint(ctx: Context, e: Envelope) -> None:
    """A touchpoint of a person nurture knows (by userId or email): remembered as a recent
    event, then exits and triggers. Unknown visitors are ignored (not a lead yet)."""
    data = e.data_as(Touchpoint)
    keys = touchpoint_keys(e.type, data)
    lead_id = await lead_store.lead_by_keys(ctx.uow.session, e.workspace_id, keys)
    if lead_id is not None:
        await _behaviour(ctx, e, lead_id, data)


async def on_email(ctx: Context, e: Envelope) -> None:
    """An email event of a lead nurture has (not an erased one): remembered, counted on its
    send (opens, clicks, unsubscribes), then exits and triggers."""
    data = e.data_as(EmailEvent)
    if not await lead_store.known(ctx.uow.session, e.workspace_id, data.lead_id):
        return
    await _remember_event(ctx, e, data.lead_id, data)
    kind = engagement_kind(e.type)
    if kind is not None and data.send_id:
        await enrollments.count_engagement(
            ctx.uow.session, e.workspace_id, data.send_id, kind, e.occurred_at
        )
    await _exits_and_triggers(ctx, e, data.lead_id, data)


async def on_enrollment(ctx: Context, e: Envelope) -> None:
    """Nurture's own enrollment events: remembered as recent events of a known lead (branch
    conditions and exit criteria may name them)."""
    data = e.data_as(EnrollmentEvent)
    if await lead_store.known(ctx.uow.session, e.workspace_id, data.lead_id):
        await _behaviour(ctx, e, data.lead_id, data)


async def on_merged(ctx: Context, e: Envelope) -> None:
    """Scoring merged leads: their enrollments and sends follow the survivor."""
    data = e.data_as(LeadMerged)
    await lead_store.merge(ctx.uow.session, e.workspace_id, data.lead_id, data.merged_lead_ids)


async def on_erased(ctx: Context, e: Envelope) -> None:
    """Scoring erased a lead: its enrollments end (queued emails cancelled), then nurture
    forgets the person."""
    data = e.data_as(LeadErased)
    for enrollment_id in await erasure.active_enrollments(ctx.uow.session, e.workspace_id, data):
        await enrollments.end(
            ctx.uow, enrollment_id, "exited", "erased", at=e.occurred_at, topic=ctx.topic
        )
    await erasure.forget(ctx.uow.session, e.workspace_id, data)


async def _behaviour(ctx: Context, e: Envelope, lead_id: str, data: Payload) -> None:
    """Something the lead did: added to its recent events, then exits and triggers."""
    await _remember_event(ctx, e, lead_id, data)
    await _exits_and_triggers(ctx, e, lead_id, data)


async def _remember_event(ctx: Context, e: Envelope, lead_id: str, data: Payload) -> None:
    session = ctx.uow.session
    events = await lead_store.upsert(session, e.workspace_id, lead_id, {})
    recent = recent_events(events, event_name(e.type, data), e.occurred_at)
    await lead_store.set_events(session, e.workspace_id, lead_id, recent)


async def _exits_and_triggers(ctx: Context, e: Envelope, lead_id: str, data: Payload) -> None:
    active = await ctx.active_sequences(e.workspace_id)
    await _exit_if_met(ctx, e, lead_id, data)
    for sequence in active:
        if triggered_by(sequence.definition, e.type, e.payload):
            await enrollments.enroll(
                ctx.uow,
                e.workspace_id,
                lead_id,
                sequence,
                trigger=str(e.id),
                at=e.occurred_at,
                topic=ctx.topic,
            )


async def _exit_if_met(ctx: Context, e: Envelope, lead_id: str, data: Payload) -> None:
    facts = exit_facts(e.type, data)
    if facts is None:
        return
    for enrollment_id, definition in await enrollments.active_of_lead(
        ctx.uow.session, e.workspace_id, lead_id
    ):
        reason = exit_reason(
            definition,
            stage=facts.stage,
            event=facts.event,
            unsubscribed=facts.unsubscribed,
            hard_bounced=facts.hard_bounced,
        )
        if reason is not None:
            await enrollments.end(
                ctx.uow, enrollment_id, "exited", reason, at=e.occurred_at, topic=ctx.topic
            )


HANDLERS: dict[str, Handler] = {
    "lead.scored": on_lead_facts,
    "lead.lifecycle_changed": on_lead_facts,
    "lead.stalled": on_lead_facts,
    "lead.merged": on_merged,
    "lead.erased": on_erased,
    **dict.fromkeys(TOUCHPOINT_TYPES, on_touchpoint),
    **dict.fromkeys(EMAIL_TYPES, on_email),
    **dict.fromkeys(ENROLLMENT_TYPES, on_enrollment),
}


async def apply_events(uow: UnitOfWork, envelopes: Sequence[Envelope], *, topic: str) -> None:
    """The consumer entry: claim the batch in the inbox, then each new event's handler."""
    ctx = Context(uow, topic)
    for e in await uow.claim_batch(envelopes):
        handler = HANDLERS.get(e.type)
        if handler is not None:
            await handler(ctx, e)
