"""Enrollments (a lead in a sequence version) and the sequences they follow, as the handlers,
the scheduler and the enrollments API read and write them. Functions take a session or a
unit of work (to add events to its outbox); they never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.domain import sequences as seq
from services.nurture.domain.engine import Progress
from services.nurture.domain.events import enrollment_event, enrollment_id
from services.nurture.domain.leads import EngagementKind
from services.nurture.domain.lifecycle import may_enroll
from services.nurture.store.tables import (
    enrollments,
    leads,
    sends,
    sequence_versions,
    workspace_settings,
)
from services.nurture.store.tables import sequences as sequences_table
from shared.db import UnitOfWork


@dataclass
class Active:
    """An active sequence's current version."""

    sequence_id: str
    version: int
    definition: seq.SequenceDefinition


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


async def history(
    session: AsyncSession, workspace_id: str | None, sequence_id: str, lead_id: str
) -> list[tuple[datetime, datetime | None, bool]]:
    """The lead's enrollments in the sequence as (entered_at, ended_at, completed), for
    ``sequences.may_enroll``."""
    query = select(enrollments.c.entered_at, enrollments.c.ended_at, enrollments.c.status).where(
        enrollments.c.sequence_id == sequence_id, enrollments.c.lead_id == lead_id
    )
    if workspace_id is not None:
        query = query.where(enrollments.c.workspace_id == workspace_id)
    return [
        (r.entered_at, r.ended_at, r.status == "completed") for r in await session.execute(query)
    ]


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
    previous = await history(session, workspace_id, sequence.sequence_id, lead_id)
    if may_enroll(sequence.definition, previous, at) is not True:
        return None
    new_id = enrollment_id(sequence.sequence_id, trigger)
    progress = Progress(last_step_at=at)
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
        enrollment_event(
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


async def active_of_lead(
    session: AsyncSession, workspace_id: str, lead_id: str
) -> list[tuple[str, seq.SequenceDefinition]]:
    """The lead's active enrollments with their version's definition, locked."""
    rows = await session.execute(
        select(enrollments.c.id, sequence_versions.c.definition)
        .join(
            sequence_versions,
            (sequence_versions.c.sequence_id == enrollments.c.sequence_id)
            & (sequence_versions.c.version == enrollments.c.version),
        )
        .where(
            enrollments.c.workspace_id == workspace_id,
            enrollments.c.lead_id == lead_id,
            enrollments.c.status == "active",
        )
        .with_for_update(of=enrollments)
    )
    return [(r.id, seq.SequenceDefinition.model_validate(r.definition)) for r in rows]


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
        enrollment_event(
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


async def count_engagement(
    session: AsyncSession, workspace_id: str, send_id: str, kind: EngagementKind, at: datetime
) -> None:
    """An open, click or unsubscribe counted on the send it came from."""
    values: dict[str, Any]
    if kind == "opened":
        values = {"opens": sends.c.opens + 1, "opened_at": func.coalesce(sends.c.opened_at, at)}
    elif kind == "clicked":
        # A click proves the email was opened, even when images were blocked.
        values = {
            "clicks": sends.c.clicks + 1,
            "clicked_at": func.coalesce(sends.c.clicked_at, at),
            "opened_at": func.coalesce(sends.c.opened_at, at),
        }
    else:
        values = {"unsubscribed_at": func.coalesce(sends.c.unsubscribed_at, at)}
    await session.execute(
        update(sends)
        .where(sends.c.id == send_id, sends.c.workspace_id == workspace_id)
        .values(**values)
    )


async def get(session: AsyncSession, workspace_id: str | None, enrollment: str) -> Row[Any] | None:
    query = select(enrollments).where(enrollments.c.id == enrollment)
    if workspace_id is not None:
        query = query.where(enrollments.c.workspace_id == workspace_id)
    return (await session.execute(query)).first()


async def list_enrollments(
    session: AsyncSession, workspace_id: str, *, filters: dict[str, Any], limit: int
) -> list[Row[Any]]:
    """The workspace's enrollments, newest first, filtered by column values (None: any)."""
    query = select(enrollments).where(enrollments.c.workspace_id == workspace_id)
    for name, value in filters.items():
        if value is not None:
            query = query.where(enrollments.c[name] == value)
    rows = await session.execute(query.order_by(enrollments.c.entered_at.desc()).limit(limit))
    return list(rows)


async def take_due(session: AsyncSession, *, now: datetime, limit: int) -> list[Row[Any]]:
    """Up to ``limit`` due active enrollments of active sequences (SKIP LOCKED), with their
    version's definition, the lead's copy and the workspace's settings."""
    query = (
        select(
            enrollments,
            sequence_versions.c.definition,
            leads.c.traits,
            leads.c.score,
            leads.c.stage,
            leads.c.events,
            workspace_settings.c.config,
        )
        .join(sequences_table, sequences_table.c.id == enrollments.c.sequence_id)
        .join(
            sequence_versions,
            (sequence_versions.c.sequence_id == enrollments.c.sequence_id)
            & (sequence_versions.c.version == enrollments.c.version),
        )
        .outerjoin(
            leads,
            (leads.c.workspace_id == enrollments.c.workspace_id)
            & (leads.c.lead_id == enrollments.c.lead_id),
        )
        .outerjoin(
            workspace_settings, workspace_settings.c.workspace_id == enrollments.c.workspace_id
        )
        .where(
            enrollments.c.status == "active",
            enrollments.c.next_at <= now,
            sequences_table.c.status == "active",
        )
        .order_by(enrollments.c.next_at)
        .limit(limit)
        .with_for_update(of=enrollments, skip_locked=True)
    )
    return list((await session.execute(query)).all())


async def move(session: AsyncSession, enrollment: str, progress: Progress, at: datetime) -> None:
    """Save an enrollment's progress; the scheduler looks at it again at ``at``."""
    await session.execute(
        update(enrollments)
        .where(enrollments.c.id == enrollment)
        .values(progress=progress.model_dump(mode="json"), next_at=at)
    )
