"""What nurture does with lead events, touchpoints and its own email events: keep its copy
of each lead, enroll leads whose event triggers an active sequence (exactly once per
trigger occurrence, honouring the re-entry policy), and end enrollments whose exit criteria
the event meets, at once.

Everything runs in the consumer's transaction (inbox claim, effects, outbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture import erasure
from services.nurture import sequences as seq
from services.nurture.models import enrollments, lead_keys, leads, sends, sequence_versions
from services.nurture.models import sequences as sequences_table
from shared.db import UnitOfWork
from shared.events import Envelope

LEAD_EVENTS = ("lead.scored", "lead.lifecycle_changed", "lead.stalled")
RECENT_EVENTS = 50  # kept per lead for branch conditions ("clicked within 7 days")
_IDS = uuid.UUID("9a1f7c3e-2b4d-4e8f-8c6a-1d2e3f4a5b6c")


@dataclass
class Active:
    """An active sequence's current version."""

    sequence_id: str
    version: int
    definition: seq.SequenceDefinition


def enrollment_id(sequence_id: str, trigger: str) -> str:
    """The same trigger occurrence always names the same enrollment (exactly once)."""
    return "enr_" + uuid.uuid5(_IDS, f"{sequence_id}:{trigger}").hex[:16]


async def apply_events(uow: UnitOfWork, envelopes: Sequence[Envelope], *, topic: str) -> None:
    todo = await uow.claim_batch(envelopes)
    session = uow.session
    active: dict[str, list[Active]] = {}
    for e in todo:
        if e.type == "lead.erased":
            for enrollment_id in await erasure.active_enrollments(session, e):
                await end(uow, enrollment_id, "exited", "erased", at=e.occurred_at, topic=topic)
            await erasure.forget(session, e)
            continue
        lead_id = await lead_of(session, e)
        if lead_id is None:
            continue  # a touchpoint of a visitor nurture does not know (yet)
        ws = e.workspace_id
        if e.type == "lead.merged":
            await _merge(session, ws, lead_id, list(e.payload.get("merged_lead_ids") or []))
            continue
        await _remember(session, e, lead_id)
        await _engagement(session, e)
        if ws not in active:
            active[ws] = await active_sequences(session, ws)
        await _exit_if_met(uow, e, lead_id, topic=topic)
        for sequence in active[ws]:
            if seq.triggered_by(sequence.definition, e.type, e.payload):
                await enroll(
                    uow, ws, lead_id, sequence, trigger=str(e.id), at=e.occurred_at, topic=topic
                )


async def lead_of(session: AsyncSession, e: Envelope) -> str | None:
    """The lead an event is about: named in lead and email events; for a touchpoint, the
    lead whose userId or email it carries (learnt from lead events)."""
    lead_id = e.payload.get("lead_id")
    if lead_id and (e.type in LEAD_EVENTS or e.type == "lead.merged"):
        return str(lead_id)
    if lead_id:
        # Email and enrollment events only speak of leads nurture has: not of an erased
        # one (its enrollment.exited must not bring a copy back).
        known = await session.scalar(
            select(leads.c.lead_id).where(
                leads.c.workspace_id == e.workspace_id, leads.c.lead_id == str(lead_id)
            )
        )
        return None if known is None else str(lead_id)
    p = e.payload
    email = ((p.get("traits") or {}) if e.type == "identify" else {}).get("email") or (
        (p.get("context") or {}).get("traits") or {}
    ).get("email")
    keys = [("user", str(p["user_id"]))] if p.get("user_id") else []
    if isinstance(email, str) and "@" in email:
        keys.append(("email", email.strip().lower()))
    for kind, value in keys:
        found = await session.scalar(
            select(lead_keys.c.lead_id).where(
                lead_keys.c.workspace_id == e.workspace_id,
                lead_keys.c.kind == kind,
                lead_keys.c.value == value,
            )
        )
        if found:
            return str(found)
    return None


def event_name(e: Envelope) -> str:
    """How branch conditions and exit criteria name an event."""
    if e.type == "track":
        return str(e.payload.get("event") or "track")
    return e.type


async def _remember(session: AsyncSession, e: Envelope, lead_id: str) -> None:
    """Update nurture's copy of the lead from what the event says."""
    p = e.payload
    values: dict[str, Any] = {}
    if e.type in LEAD_EVENTS:
        values["traits"] = dict(p.get("traits") or {})
        values["email"] = p.get("email") or values["traits"].get("email")
        for name in ("score", "fit", "engagement"):
            if p.get(name) is not None:
                values[name] = p[name]
        if e.type == "lead.lifecycle_changed":
            values["stage"] = p.get("to_stage")
        keys = [("user", str(u)) for u in p.get("user_ids") or []]
        if values["email"]:
            keys.append(("email", str(values["email"]).strip().lower()))
        if keys:
            stmt_keys = insert(lead_keys).values(
                [
                    {"workspace_id": e.workspace_id, "kind": k, "value": v, "lead_id": lead_id}
                    for k, v in keys
                ]
            )
            await session.execute(
                stmt_keys.on_conflict_do_update(
                    index_elements=[lead_keys.c.workspace_id, lead_keys.c.kind, lead_keys.c.value],
                    set_={"lead_id": stmt_keys.excluded.lead_id},
                )
            )
    stmt = insert(leads).values(workspace_id=e.workspace_id, lead_id=lead_id, **values)
    row = (
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[leads.c.workspace_id, leads.c.lead_id],
                set_={
                    **{k: stmt.excluded[k] for k in values},
                    "updated_at": stmt.excluded.updated_at,
                },
            ).returning(leads.c.events)
        )
    ).one()
    if e.type not in LEAD_EVENTS:
        recent = [*list(row.events), [event_name(e), e.occurred_at.isoformat()]][-RECENT_EVENTS:]
        await session.execute(
            update(leads)
            .where(leads.c.workspace_id == e.workspace_id, leads.c.lead_id == lead_id)
            .values(events=recent)
        )


async def _engagement(session: AsyncSession, e: Envelope) -> None:
    """Opens, clicks and unsubscribes counted on the send they came from (results per step
    and variant)."""
    send = e.payload.get("send_id")
    if not send or e.type not in ("email.opened", "email.clicked", "email.unsubscribed"):
        return
    mine = (sends.c.id == str(send)) & (sends.c.workspace_id == e.workspace_id)
    at = e.occurred_at
    values: dict[str, Any]
    if e.type == "email.opened":
        values = {"opens": sends.c.opens + 1, "opened_at": func.coalesce(sends.c.opened_at, at)}
    elif e.type == "email.clicked":
        # A click proves the email was opened, even when images were blocked.
        values = {
            "clicks": sends.c.clicks + 1,
            "clicked_at": func.coalesce(sends.c.clicked_at, at),
            "opened_at": func.coalesce(sends.c.opened_at, at),
        }
    else:
        values = {"unsubscribed_at": func.coalesce(sends.c.unsubscribed_at, at)}
    await session.execute(update(sends).where(mine).values(**values))


def _current_versions() -> Any:
    """Sequences joined with their current version's definition."""
    return select(
        sequences_table.c.id,
        sequences_table.c.status,
        sequence_versions.c.version,
        sequence_versions.c.definition,
    ).join(
        sequence_versions,
        (sequence_versions.c.sequence_id == sequences_table.c.id)
        & (sequence_versions.c.version == sequences_table.c.current_version),
    )


def _active(row: Any) -> Active:
    return Active(row.id, row.version, seq.SequenceDefinition.model_validate(row.definition))


async def active_sequences(session: AsyncSession, workspace_id: str) -> list[Active]:
    rows = await session.execute(
        _current_versions().where(
            sequences_table.c.workspace_id == workspace_id, sequences_table.c.status == "active"
        )
    )
    return [_active(r) for r in rows]


async def current_sequence(
    session: AsyncSession, workspace_id: str, sequence_id: str
) -> tuple[str, Active] | None:
    """A sequence's status and current version, or None if the workspace has no such one."""
    row = (
        await session.execute(
            _current_versions().where(
                sequences_table.c.id == sequence_id,
                sequences_table.c.workspace_id == workspace_id,
            )
        )
    ).first()
    return (row.status, _active(row)) if row else None


async def enroll(
    uow: UnitOfWork,
    workspace_id: str,
    lead_id: str,
    sequence: Active,
    *,
    trigger: str,
    at: datetime,
    topic: str,
) -> str | None:
    """Enroll a lead (once per trigger occurrence; re-entry policy honoured); the new
    enrollment's id, or None with nothing done."""
    session = uow.session
    previous = await session.execute(
        select(enrollments.c.entered_at, enrollments.c.ended_at, enrollments.c.status).where(
            enrollments.c.sequence_id == sequence.sequence_id,
            enrollments.c.workspace_id == workspace_id,
            enrollments.c.lead_id == lead_id,
        )
    )
    history = [(r.entered_at, r.ended_at, r.status == "completed") for r in previous]
    if seq.may_enroll(sequence.definition, history, at) is not True:
        return None
    new_id = enrollment_id(sequence.sequence_id, trigger)
    progress = seq.Progress(last_step_at=at)
    created = await session.scalar(
        insert(enrollments)
        .values(
            id=new_id,
            workspace_id=workspace_id,
            sequence_id=sequence.sequence_id,
            version=sequence.version,
            lead_id=lead_id,
            status="active",
            progress=progress.model_dump(mode="json"),
            next_at=at,
            entered_at=at,
            trigger=trigger,
        )
        .on_conflict_do_nothing()
        .returning(enrollments.c.id)
    )
    if created is None:
        return None
    await uow.emit(
        topic,
        _event(
            "enrollment.started",
            workspace_id,
            lead_id,
            at,
            enrollment_id=new_id,
            sequence_id=sequence.sequence_id,
            version=sequence.version,
            trigger=trigger,
        ),
    )
    return new_id


async def _exit_if_met(uow: UnitOfWork, e: Envelope, lead_id: str, *, topic: str) -> None:
    p = e.payload
    stage = p.get("to_stage") if e.type == "lead.lifecycle_changed" else None
    event = None if e.type in LEAD_EVENTS else event_name(e)
    unsubscribed = e.type == "email.unsubscribed"
    bounced = e.type == "email.bounced" and p.get("kind") == "hard"
    if stage is None and event is None:
        return
    rows = await uow.session.execute(
        select(
            enrollments.c.id,
            enrollments.c.sequence_id,
            enrollments.c.version,
            sequence_versions.c.definition,
        )
        .join(
            sequence_versions,
            (sequence_versions.c.sequence_id == enrollments.c.sequence_id)
            & (sequence_versions.c.version == enrollments.c.version),
        )
        .where(
            enrollments.c.workspace_id == e.workspace_id,
            enrollments.c.lead_id == lead_id,
            enrollments.c.status == "active",
        )
        .with_for_update(of=enrollments)
    )
    for row in rows:
        definition = seq.SequenceDefinition.model_validate(row.definition)
        reason = seq.exit_reason(
            definition, stage=stage, event=event, unsubscribed=unsubscribed, hard_bounced=bounced
        )
        if reason is not None:
            await end(uow, row.id, "exited", reason, at=e.occurred_at, topic=topic)


async def end(
    uow: UnitOfWork, enrollment: str, status: str, reason: str | None, *, at: datetime, topic: str
) -> None:
    """Finish an enrollment (exited or completed); its queued sends are cancelled."""
    session = uow.session
    row = (
        await session.execute(
            update(enrollments)
            .where(enrollments.c.id == enrollment, enrollments.c.status == "active")
            .values(status=status, ended_at=at, exit_reason=reason, next_at=None)
            .returning(
                enrollments.c.workspace_id,
                enrollments.c.lead_id,
                enrollments.c.sequence_id,
                enrollments.c.version,
            )
        )
    ).first()
    if row is None:
        return
    await session.execute(
        update(sends)
        .where(sends.c.enrollment_id == enrollment, sends.c.status == "queued")
        .values(status="cancelled", last_error=f"enrollment {status}: {reason}")
    )
    await uow.emit(
        topic,
        _event(
            f"enrollment.{status}",
            row.workspace_id,
            row.lead_id,
            at,
            enrollment_id=enrollment,
            sequence_id=row.sequence_id,
            version=row.version,
            reason=reason,
        ),
    )


async def _merge(session: AsyncSession, workspace_id: str, into: str, folded: list[str]) -> None:
    """Scoring merged leads: their enrollments and sends follow the survivor."""
    if not folded:
        return
    for table in (enrollments, sends):
        await session.execute(
            update(table)
            .where(table.c.workspace_id == workspace_id, table.c.lead_id.in_(folded))
            .values(lead_id=into)
        )
    await session.execute(
        update(leads)
        .where(leads.c.workspace_id == workspace_id, leads.c.lead_id.in_(folded))
        .values(merged_into=into)
    )


def _event(kind: str, workspace_id: str, lead_id: str, at: datetime, **payload: Any) -> Envelope:
    key = f"{kind}:{payload.get('enrollment_id')}"
    return Envelope(
        id=uuid.uuid5(_IDS, key),
        type=kind,
        workspace_id=workspace_id,
        lead_key=lead_id,
        occurred_at=at,
        payload={"lead_id": lead_id, **payload},
    )
