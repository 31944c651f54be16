"""Reading leads for the API, and the lifecycle moves people make through it."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain import lifecycle
from services.scoring.domain.reaction import Outcome, enter
from services.scoring.domain.records import LeadRecord
from services.scoring.store import store
from services.scoring.store.tables import (
    identities,
    identity_conflicts,
    lead_events,
    lead_stages,
    leads,
)

SUMMARY = (
    leads.c.id,
    leads.c.stage,
    leads.c.score,
    leads.c.fit,
    leads.c.engagement,
    leads.c.model_version,
    leads.c.traits,
    leads.c.first_seen_at,
    leads.c.last_seen_at,
    leads.c.updated_at,
)
SORTS = {
    "-score": (leads.c.score.desc().nulls_last(), leads.c.id),
    "score": (leads.c.score.asc().nulls_first(), leads.c.id),
    "-updated_at": (leads.c.updated_at.desc(), leads.c.id),
    "updated_at": (leads.c.updated_at.asc(), leads.c.id),
}


async def live_id(session: AsyncSession, workspace_id: str, lead_id: str) -> str | None:
    """The lead an id stands for now (a merged lead points at its survivor), or None."""
    row = (
        await session.execute(
            select(leads.c.id, leads.c.merged_into).where(
                leads.c.workspace_id == workspace_id, leads.c.id == lead_id
            )
        )
    ).first()
    if row is None:
        return None
    return str(row.merged_into or row.id)


async def lead_view(
    session: AsyncSession, workspace_id: str, lead_id: str
) -> dict[str, Any] | None:
    """A lead as the API shows it (the survivor, if it was merged), or None."""
    live = await live_id(session, workspace_id, lead_id)
    if live is None:
        return None
    row = (await session.execute(select(leads).where(leads.c.id == live))).one()
    ids = await session.execute(
        select(identities.c.kind, identities.c.value)
        .where(identities.c.workspace_id == workspace_id, identities.c.lead_id == live)
        .order_by(identities.c.kind, identities.c.value)
    )
    history = await session.execute(
        select(lead_stages).where(lead_stages.c.lead_id == live).order_by(lead_stages.c.id)
    )
    return {
        **dict(row._mapping),
        "identities": [{"kind": i.kind, "value": i.value} for i in ids],
        "stage_history": [dict(h._mapping) for h in history],
    }


async def find(session: AsyncSession, workspace_id: str, kind: str, value: str) -> str | None:
    found = await session.scalar(
        select(identities.c.lead_id).where(
            identities.c.workspace_id == workspace_id,
            identities.c.kind == kind,
            identities.c.value == value,
        )
    )
    return str(found) if found else None


@dataclass
class LeadQuery:
    stage: str | None = None
    min_score: int | None = None
    max_score: int | None = None
    updated_since: datetime | None = None
    updated_before: datetime | None = None
    lead_ids: list[str] | None = None
    sort: str = "-score"
    limit: int = 50
    cursor: str | None = None


class BadCursor(ValueError):
    pass


def _cursor(row: Any, sort: str) -> str:
    key = sort.lstrip("-")
    value = row._mapping[key]
    raw = orjson.dumps([value.isoformat() if isinstance(value, datetime) else value, row.id])
    return base64.urlsafe_b64encode(raw).decode()


def _segments(cursor: str | None, sort: str) -> list[Any]:
    """The rows after the cursor's (value, id), as conditions on consecutive stretches of
    the sort order, first to last. Each stretch is read on its own, in index order: one OR
    of them made PostgreSQL read the workspace's leads from the top and filter (a later page
    of 50,000 leads took ~100 ms; now a few index pages)."""
    if cursor is None:
        return [true()]
    try:
        value, last_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if sort.endswith("updated_at") and value is not None:
            value = datetime.fromisoformat(value)
        elif value is not None and type(value) is not int:
            raise TypeError("a score is a whole number")
        if not isinstance(last_id, str):
            raise TypeError("a lead id is text")
    except Exception as exc:
        raise BadCursor("cursor is not one this API gave") from exc
    column = leads.c[sort.lstrip("-")]
    descending = sort.startswith("-")
    after_id = leads.c.id > last_id
    if value is None:  # nulls sort last descending, first ascending
        ties = and_(column.is_(None), after_id)
        return [ties] if descending else [ties, column.is_not(None)]
    ties = and_(column == value, after_id)
    if descending:
        return [ties, column < value, column.is_(None)]
    return [ties, column > value]


async def listing(
    session: AsyncSession, workspace_id: str, q: LeadQuery
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of leads and the cursor of the next page (None on the last)."""
    query = select(*SUMMARY).where(
        leads.c.workspace_id == workspace_id, leads.c.merged_into.is_(None)
    )
    if q.stage:
        query = query.where(leads.c.stage == q.stage)
    if q.min_score is not None:
        query = query.where(leads.c.score >= q.min_score)
    if q.max_score is not None:
        query = query.where(leads.c.score <= q.max_score)
    if q.updated_since:
        query = query.where(leads.c.updated_at >= q.updated_since)
    if q.updated_before:
        query = query.where(leads.c.updated_at < q.updated_before)
    if q.lead_ids is not None:
        query = query.where(leads.c.id.in_(q.lead_ids))
    rows: list[Any] = []
    for segment in _segments(q.cursor, q.sort):
        wanted = q.limit + 1 - len(rows)
        if wanted <= 0:
            break
        ordered = query.where(segment).order_by(*SORTS[q.sort]).limit(wanted)
        rows.extend(await session.execute(ordered))
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    return [dict(r._mapping) for r in rows], (_cursor(rows[-1], q.sort) if more else None)


async def timeline(
    session: AsyncSession, lead_id: str, *, limit: int, before: datetime | None
) -> list[dict[str, Any]]:
    """A lead's touchpoints, email events and stage changes, newest first."""
    events = select(
        lead_events.c.event_id, lead_events.c.type, lead_events.c.occurred_at, lead_events.c.payload
    ).where(lead_events.c.lead_id == lead_id)
    stages = select(lead_stages).where(lead_stages.c.lead_id == lead_id)
    if before is not None:
        events = events.where(lead_events.c.occurred_at < before)
        stages = stages.where(lead_stages.c.entered_at < before)
    items = [
        {"at": r.occurred_at, "kind": r.type, "event_id": r.event_id, "detail": r.payload}
        for r in await session.execute(
            events.order_by(lead_events.c.occurred_at.desc()).limit(limit)
        )
    ]
    items += [
        {
            "at": r.entered_at,
            "kind": "stage",
            "event_id": r.event_id,
            "detail": {
                "from": r.from_stage,
                "to": r.stage,
                "reason": r.reason,
                "actor": r.actor,
                "score": r.score,
            },
        }
        for r in await session.execute(
            stages.order_by(lead_stages.c.entered_at.desc()).limit(limit)
        )
    ]
    items.sort(key=lambda i: i["at"], reverse=True)
    return items[:limit]


async def lifecycle_changes(
    session: AsyncSession, workspace_id: str, *, after_id: int, limit: int, lead_id: str | None
) -> list[dict[str, Any]]:
    query = select(lead_stages).where(
        lead_stages.c.workspace_id == workspace_id, lead_stages.c.id > after_id
    )
    if lead_id:
        query = query.where(lead_stages.c.lead_id == lead_id)
    rows = await session.execute(query.order_by(lead_stages.c.id).limit(limit))
    return [dict(r._mapping) for r in rows]


async def move_by_hand(
    session: AsyncSession,
    workspace_id: str,
    lead_id: str,
    *,
    stage: str,
    reason: str,
    actor: str,
    at: datetime,
    amount: float | None = None,
) -> tuple[LeadRecord, Outcome] | None:
    """Sales or an integration moves a lead (checked by lifecycle.by_hand); None if no such
    lead. Raises lifecycle.NotAllowed with the reason when the move is refused."""
    live = await live_id(session, workspace_id, lead_id)
    if live is None:
        return None
    [record] = await store.load_records(session, [live])
    move = lifecycle.by_hand(record.stage, stage, reason)
    outcome = Outcome()
    enter(record, move, actor=actor, at=at, cause=uuid.uuid4(), out=outcome, amount=amount)
    await store.save_records(session, [record], at)
    await store.add_stages(session, outcome.stages)
    return record, outcome


async def conflicts(session: AsyncSession, workspace_id: str, limit: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(identity_conflicts)
        .where(identity_conflicts.c.workspace_id == workspace_id)
        .order_by(identity_conflicts.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]
