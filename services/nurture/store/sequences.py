"""Sequences and their versions in the nurture schema, with their headline counts.

Every function runs in the caller's session (and transaction) and is scoped to one
workspace. They never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.domain.catalog import (
    TRANSITIONS,
    Action,
    CatalogError,
    Status,
    TemplateRef,
    definition_json,
    template_refs,
    transition_problem,
)
from services.nurture.domain.sequences import SequenceDefinition
from services.nurture.store.tables import (
    enrollments,
    sends,
    sequence_versions,
    sequences,
    templates,
)
from services.nurture.store.templates import new_id


@dataclass(frozen=True)
class SequenceRecord:
    id: str
    name: str
    status: Status
    current_version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SequenceStats:
    active: int = 0
    completed: int = 0
    exited: int = 0
    sent: int = 0


@dataclass(frozen=True)
class VersionRecord:
    sequence_id: str
    version: int
    created_at: datetime
    definition: SequenceDefinition


_SEQUENCE_COLUMNS = (
    sequences.c.id,
    sequences.c.name,
    sequences.c.status,
    sequences.c.current_version,
    sequences.c.created_at,
    sequences.c.updated_at,
)


def _sequence(row: Any) -> SequenceRecord:
    m = row._mapping
    return SequenceRecord(
        id=m["id"],
        name=m["name"],
        status=m["status"],
        current_version=m["current_version"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


async def unknown_templates(
    session: AsyncSession, workspace_id: str, definition: SequenceDefinition
) -> list[TemplateRef]:
    """The references to templates that this workspace does not have (or archived)."""
    refs = template_refs(definition)
    ids = sorted({r.template_id for r in refs})
    if not ids:
        return []
    known = set(
        (
            await session.scalars(
                select(templates.c.id).where(
                    templates.c.workspace_id == workspace_id,
                    templates.c.id.in_(ids),
                    templates.c.archived.is_(False),
                )
            )
        ).all()
    )
    return [r for r in refs if r.template_id not in known]


async def _stats(
    session: AsyncSession, workspace_id: str, sequence_ids: list[str]
) -> dict[str, SequenceStats]:
    counts: dict[str, dict[str, int]] = {sid: {} for sid in sequence_ids}
    if not sequence_ids:
        return {}
    rows = await session.execute(
        select(enrollments.c.sequence_id, enrollments.c.status, func.count())
        .where(
            enrollments.c.workspace_id == workspace_id,
            enrollments.c.sequence_id.in_(sequence_ids),
        )
        .group_by(enrollments.c.sequence_id, enrollments.c.status)
    )
    for sequence_id, status, count in rows:
        counts[sequence_id][status] = int(count)
    rows = await session.execute(
        select(sends.c.sequence_id, func.count())
        .where(
            sends.c.workspace_id == workspace_id,
            sends.c.sequence_id.in_(sequence_ids),
            sends.c.status == "sent",
        )
        .group_by(sends.c.sequence_id)
    )
    for sequence_id, count in rows:
        counts[sequence_id]["sent"] = int(count)
    return {
        sid: SequenceStats(
            active=c.get("active", 0),
            completed=c.get("completed", 0),
            exited=c.get("exited", 0),
            sent=c.get("sent", 0),
        )
        for sid, c in counts.items()
    }


async def list_sequences(
    session: AsyncSession, workspace_id: str, *, status: Status | None = None
) -> list[tuple[SequenceRecord, SequenceStats]]:
    """The workspace's sequences (newest first) with their headline counts."""
    query = select(*_SEQUENCE_COLUMNS).where(sequences.c.workspace_id == workspace_id)
    if status is not None:
        query = query.where(sequences.c.status == status)
    found = [
        _sequence(r)
        for r in await session.execute(
            query.order_by(sequences.c.created_at.desc(), sequences.c.id)
        )
    ]
    stats = await _stats(session, workspace_id, [s.id for s in found])
    return [(s, stats.get(s.id, SequenceStats())) for s in found]


async def get_sequence(
    session: AsyncSession, workspace_id: str, sequence_id: str, *, lock: bool = False
) -> SequenceRecord | None:
    query = select(*_SEQUENCE_COLUMNS).where(
        sequences.c.workspace_id == workspace_id, sequences.c.id == sequence_id
    )
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return _sequence(row) if row else None


async def sequence_stats(
    session: AsyncSession, workspace_id: str, sequence_id: str
) -> SequenceStats:
    return (await _stats(session, workspace_id, [sequence_id]))[sequence_id]


async def list_versions(
    session: AsyncSession, workspace_id: str, sequence_id: str
) -> list[VersionRecord]:
    """Every version of a sequence of this workspace, oldest first ([] when unknown)."""
    rows = await session.execute(
        select(sequence_versions)
        .join(sequences, sequences.c.id == sequence_versions.c.sequence_id)
        .where(sequences.c.workspace_id == workspace_id, sequences.c.id == sequence_id)
        .order_by(sequence_versions.c.version)
    )
    return [_version(r) for r in rows]


async def get_version(
    session: AsyncSession, workspace_id: str, sequence_id: str, version: int
) -> VersionRecord | None:
    row = (
        await session.execute(
            select(sequence_versions)
            .join(sequences, sequences.c.id == sequence_versions.c.sequence_id)
            .where(
                sequences.c.workspace_id == workspace_id,
                sequences.c.id == sequence_id,
                sequence_versions.c.version == version,
            )
        )
    ).first()
    return _version(row) if row else None


def _version(row: Any) -> VersionRecord:
    m = row._mapping
    return VersionRecord(
        sequence_id=m["sequence_id"],
        version=m["version"],
        created_at=m["created_at"],
        definition=SequenceDefinition.model_validate(m["definition"]),
    )


async def _add_version(
    session: AsyncSession, sequence_id: str, version: int, definition: SequenceDefinition
) -> None:
    await session.execute(
        insert(sequence_versions).values(
            sequence_id=sequence_id, version=version, definition=definition_json(definition)
        )
    )


async def create_sequence(
    session: AsyncSession, workspace_id: str, name: str, definition: SequenceDefinition
) -> SequenceRecord:
    """A new draft sequence with `definition` as version 1 (check unknown_templates first)."""
    sequence_id = new_id("seq")
    row = (
        await session.execute(
            insert(sequences)
            .values(
                id=sequence_id,
                workspace_id=workspace_id,
                name=name,
                status="draft",
                current_version=1,
            )
            .returning(*_SEQUENCE_COLUMNS)
        )
    ).one()
    await _add_version(session, sequence_id, 1, definition)
    return _sequence(row)


async def update_sequence(
    session: AsyncSession,
    workspace_id: str,
    sequence_id: str,
    *,
    name: str | None = None,
    definition: SequenceDefinition | None = None,
) -> SequenceRecord | None:
    """Rename and/or save a new definition; None when there is no such sequence.

    A definition that differs from the current one becomes version N+1 and the current
    version; the older versions stay as they were (enrollments keep the one they started
    with). The same definition again adds no version. Raises CatalogError for an archived
    sequence."""
    found = await get_sequence(session, workspace_id, sequence_id, lock=True)
    if found is None:
        return None
    if found.status == "archived":
        raise CatalogError(f"sequence {sequence_id} is archived and can no longer be changed")
    values: dict[str, Any] = {}
    if name is not None and name != found.name:
        values["name"] = name
    if definition is not None:
        current = await get_version(session, workspace_id, sequence_id, found.current_version)
        if current is None or definition_json(current.definition) != definition_json(definition):
            version = found.current_version + 1
            await _add_version(session, sequence_id, version, definition)
            values["current_version"] = version
    if not values:
        return found
    row = (
        await session.execute(
            update(sequences)
            .where(sequences.c.id == sequence_id)
            .values(**values, updated_at=func.now())
            .returning(*_SEQUENCE_COLUMNS)
        )
    ).one()
    return _sequence(row)


async def change_status(
    session: AsyncSession, workspace_id: str, sequence_id: str, action: Action
) -> SequenceRecord | None:
    """Apply a status transition; None when there is no such sequence. Raises CatalogError
    (with the reason) when the transition is not allowed. Archiving an archived sequence is
    a no-op."""
    found = await get_sequence(session, workspace_id, sequence_id, lock=True)
    if found is None:
        return None
    problem = transition_problem(found.status, action)
    if problem is not None:
        raise CatalogError(f"cannot {action} sequence {sequence_id}: {problem}")
    target = TRANSITIONS[action][1]
    if found.status == target:
        return found
    if action == "resume":
        # Paused time does not count against a queued send's deadline: nobody is skipped.
        await session.execute(
            update(sends)
            .where(sends.c.sequence_id == sequence_id, sends.c.status == "queued")
            .values(
                deadline=sends.c.deadline
                + (func.now() - literal(found.updated_at, DateTime(timezone=True)))
            )
        )
    row = (
        await session.execute(
            update(sequences)
            .where(sequences.c.id == sequence_id)
            .values(status=target, updated_at=func.now())
            .returning(*_SEQUENCE_COLUMNS)
        )
    ).one()
    return _sequence(row)
