"""The attribution report's query: the credit kept per lead and conversion, summed per stage
and value in one statement (one index range per stage); the rules: domain/attribution.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.attribution import CreditSum, credit_rows
from services.reporting.domain.period import Period

_SUMS = text(
    """
    SELECT stage, grouping(first_source), grouping(first_campaign), grouping(source),
           grouping(campaign), first_source, first_campaign, source, campaign,
           count(*) FILTER (WHERE last), sum(share)
      FROM reporting.lead_credits
     WHERE workspace_id = :ws AND stage IN ('mql', 'sql', 'customer')
       AND at >= :start AND at < :end
     GROUP BY GROUPING SETS ((stage), (stage, first_source), (stage, first_campaign),
                             (stage, source), (stage, campaign))
    """
)


async def attribution(
    session: AsyncSession, workspace_id: str, period: Period
) -> list[dict[str, Any]]:
    """Rows (stage, model, dimension, value, credit, share)."""
    rows = await session.execute(
        _SUMS, {"ws": workspace_id, "start": period.start, "end": period.end}
    )
    return credit_rows(
        CreditSum(
            stage=row[0],
            grouped=(bool(row[1]), bool(row[2]), bool(row[3]), bool(row[4])),
            values=(row[5], row[6], row[7], row[8]),
            last=int(row[9]),
            shares=float(row[10] or 0),
        )
        for row in rows
    )
