"""Labelled history from the scoring database, for `leadflow scoring train --simulated 0`.

A lead converted when it reached the given stage (default `customer`) or sent the given
conversion event, whichever came first; its events from that moment on are not used.
Traits are the lead's current ones (who the person is rarely changes after conversion).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.training import History
from services.scoring.store.tables import lead_events, lead_stages, leads


async def histories(
    session: AsyncSession,
    *,
    workspace_id: str | None,
    converted_stage: str,
    conversion_event: str,
) -> list[History]:
    people = select(leads.c.id, leads.c.traits).where(leads.c.merged_into.is_(None))
    if workspace_id is not None:
        people = people.where(leads.c.workspace_id == workspace_id)
    found = {
        row.id: History(row.id, [], dict(row.traits), None) for row in await session.execute(people)
    }
    reached = await session.execute(
        select(lead_stages.c.lead_id, func.min(lead_stages.c.entered_at))
        .where(lead_stages.c.stage == converted_stage)
        .group_by(lead_stages.c.lead_id)
    )
    converted: dict[str, datetime] = {lead_id: at for lead_id, at in reached if lead_id in found}
    events = select(
        lead_events.c.lead_id, lead_events.c.type, lead_events.c.payload, lead_events.c.occurred_at
    ).order_by(lead_events.c.lead_id, lead_events.c.occurred_at)
    if workspace_id is not None:
        events = events.where(lead_events.c.workspace_id == workspace_id)
    async for lead_id, kind, payload, at in await session.stream(events):
        person = found.get(lead_id)
        if person is None:
            continue
        if kind == "track" and payload.get("event") == conversion_event:
            converted[lead_id] = min(at, converted.get(lead_id, at))
        person.events.append((kind, payload, at))
    for lead_id, at in converted.items():
        found[lead_id].converted_at = at
    return [h for h in found.values() if h.events]
