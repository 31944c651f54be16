"""Nurture's copy of each lead (what lead events said of the person) and the keys
touchpoints name them by. Functions take a session; they never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.domain.leads import Key
from services.nurture.store.tables import enrollments, lead_keys, leads, sends


async def lead_facts(
    session: AsyncSession, workspace_id: str, lead_id: str
) -> dict[str, Any] | None:
    """What nurture knows of a lead, shaped like a lead event's payload (for
    templating.lead_context); a merged lead is followed to the lead it was merged into."""
    wanted, seen = lead_id, set[str]()
    while wanted not in seen:
        seen.add(wanted)
        row = (
            await session.execute(
                select(leads).where(leads.c.workspace_id == workspace_id, leads.c.lead_id == wanted)
            )
        ).first()
        if row is None:
            return None
        m = row._mapping
        if m["merged_into"] and m["merged_into"] not in seen:
            wanted = m["merged_into"]
            continue
        return {
            "lead_id": m["lead_id"],
            "email": m["email"],
            "traits": dict(m["traits"] or {}),
            "score": m["score"],
            "fit": m["fit"],
            "engagement": m["engagement"],
            "stage": m["stage"],
        }
    return None


async def known(session: AsyncSession, workspace_id: str, lead_id: str) -> bool:
    """Does nurture have a copy of this lead (not an erased one)?"""
    found = await session.scalar(
        select(leads.c.lead_id).where(
            leads.c.workspace_id == workspace_id, leads.c.lead_id == lead_id
        )
    )
    return found is not None


async def lead_by_keys(session: AsyncSession, workspace_id: str, keys: list[Key]) -> str | None:
    """The lead the first of these keys (userId, email) belongs to, learnt from lead events."""
    for kind, value in keys:
        found = await session.scalar(
            select(lead_keys.c.lead_id).where(
                lead_keys.c.workspace_id == workspace_id,
                lead_keys.c.kind == kind,
                lead_keys.c.value == value,
            )
        )
        if found:
            return str(found)
    return None


async def remember_keys(
    session: AsyncSession, workspace_id: str, lead_id: str, keys: list[Key]
) -> None:
    if not keys:
        return
    stmt = insert(lead_keys).values(
        [{"workspace_id": workspace_id, "kind": k, "value": v, "lead_id": lead_id} for k, v in keys]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[lead_keys.c.workspace_id, lead_keys.c.kind, lead_keys.c.value],
            set_={"lead_id": stmt.excluded.lead_id},
        )
    )


async def upsert(
    session: AsyncSession, workspace_id: str, lead_id: str, values: dict[str, Any]
) -> list[Any]:
    """Create or update nurture's copy of the lead with ``values``; its recent events."""
    stmt = insert(leads).values(workspace_id=workspace_id, lead_id=lead_id, **values)
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
    return list(row.events)


async def set_events(
    session: AsyncSession, workspace_id: str, lead_id: str, events: list[Any]
) -> None:
    await session.execute(
        update(leads)
        .where(leads.c.workspace_id == workspace_id, leads.c.lead_id == lead_id)
        .values(events=events)
    )


async def merge(session: AsyncSession, workspace_id: str, into: str, folded: list[str]) -> None:
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
