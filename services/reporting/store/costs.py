"""Campaign costs, recorded through the API and read by the revenue report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.revenue import CampaignCost
from services.reporting.store.tables import campaign_costs


async def record_cost(
    session: AsyncSession, workspace_id: str, cost: CampaignCost, at: datetime
) -> int:
    """Insert a recorded cost; returns its id."""
    return int(
        (
            await session.execute(
                insert(campaign_costs)
                .values(workspace_id=workspace_id, **cost.model_dump(), recorded_at=at)
                .returning(campaign_costs.c.id)
            )
        ).scalar_one()
    )


async def recorded_costs(session: AsyncSession, workspace_id: str) -> list[CampaignCost]:
    """Every cost recorded for the workspace."""
    rows = await session.execute(
        select(
            campaign_costs.c.campaign,
            campaign_costs.c.start,
            campaign_costs.c.end,
            campaign_costs.c.amount,
        ).where(campaign_costs.c.workspace_id == workspace_id)
    )
    return [CampaignCost(**r._mapping) for r in rows]
