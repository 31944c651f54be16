"""Erasing a person from reporting, on scoring's `lead.erased`: the touches filed under the
person's identity keys are re-filed under the lead id (the figures stay true, nothing links
them to a person any more), and the keys themselves are dropped."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.store.projections import credits
from services.reporting.store.tables import key_touches, lead_keys, leads
from shared.events import Envelope
from shared.events.types import LeadErased

_REFILE = text(
    """
    UPDATE reporting.touches t
       SET key = 'lead:' || k.lead_id
      FROM reporting.lead_keys k
     WHERE k.workspace_id = :ws AND k.lead_id = ANY(:leads) AND k.key NOT LIKE 'lead:%'
       AND t.workspace_id = k.workspace_id AND t.key = k.key
    """
)


async def apply(session: AsyncSession, erased: Sequence[Envelope]) -> None:
    """Forget the people of these lead.erased events (claimed in the inbox)."""
    for e in erased:
        ws, lead_id = e.workspace_id, e.data_as(LeadErased).lead_id
        folded = await session.scalars(
            select(leads.c.lead_id).where(
                leads.c.workspace_id == ws, leads.c.merged_into == lead_id
            )
        )
        ids = [lead_id, *folded]
        credits.mark_leads(session, [(ws, i) for i in ids])
        personal = list(
            await session.scalars(
                select(lead_keys.c.key).where(
                    lead_keys.c.workspace_id == ws,
                    lead_keys.c.lead_id.in_(ids),
                    lead_keys.c.key.not_like("lead:%"),
                )
            )
        )
        if not personal:
            continue
        await session.execute(_REFILE, {"ws": ws, "leads": ids})
        for table in (key_touches, lead_keys):
            await session.execute(
                delete(table).where(table.c.workspace_id == ws, table.c.key.in_(personal))
            )
