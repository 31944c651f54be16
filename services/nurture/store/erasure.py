"""Erasing a person from nurture, on scoring's `lead.erased`: their enrollments end (the
caller ends them, cancelling queued emails), their copy and keys go, the address is blanked
on past sends (results keep counting them under the pseudonymous lead id), and their
unsubscribe or suppression entry is removed (nothing reaches them any more: ingest and
scoring drop their events)."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.store.tables import (
    audit_log,
    enrollments,
    lead_keys,
    leads,
    sends,
    suppressions,
)
from shared.db import audit
from shared.events.types import LeadErased


async def _with_folded(session: AsyncSession, workspace_id: str, lead_id: str) -> list[str]:
    """The lead and those folded into it (nurture keeps their rows, pointing at it)."""
    folded = await session.scalars(
        select(leads.c.lead_id).where(
            leads.c.workspace_id == workspace_id, leads.c.merged_into == lead_id
        )
    )
    return [lead_id, *folded]


async def active_enrollments(
    session: AsyncSession, workspace_id: str, erased: LeadErased
) -> list[str]:
    ids = await _with_folded(session, workspace_id, erased.lead_id)
    found = await session.scalars(
        select(enrollments.c.id).where(
            enrollments.c.workspace_id == workspace_id,
            enrollments.c.lead_id.in_(ids),
            enrollments.c.status == "active",
        )
    )
    return list(found)


async def forget(session: AsyncSession, ws: str, erased: LeadErased) -> None:
    ids = await _with_folded(session, ws, erased.lead_id)
    emails = [
        m.lower()
        for m in await session.scalars(
            select(leads.c.email).where(leads.c.workspace_id == ws, leads.c.lead_id.in_(ids))
        )
        if m
    ]
    await session.execute(
        update(sends)
        .where(sends.c.workspace_id == ws, sends.c.lead_id.in_(ids))
        .values(to_email=None)
    )
    for table in (lead_keys, leads):
        await session.execute(
            delete(table).where(table.c.workspace_id == ws, table.c.lead_id.in_(ids))
        )
    if emails:
        await session.execute(
            delete(suppressions).where(
                suppressions.c.workspace_id == ws, suppressions.c.email.in_(emails)
            )
        )
    await audit.record(
        session,
        audit_log,
        ws,
        "person.erased",
        "erasure",
        lead_id=ids[0],
        erasure_id=erased.erasure_id,
    )
