"""The velocity report's query: per measure, the leads counted and the quantiles of their
days, in one statement (the measures: domain/velocity.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.period import Period
from services.reporting.domain.stages import FUNNEL
from services.reporting.domain.velocity import MEASURES, velocity_rows
from services.reporting.store.reports.lead_sql import LIVE

# Every measure ends at a stage after subscriber: the leads that reached one in the period
# (fewer than the funnel's, which also reads those that only became subscribers).
ENDS = "(" + " OR ".join(f"(l.{s}_at >= :start AND l.{s}_at < :end)" for s in FUNNEL[1:]) + ")"


def _velocity_sql() -> str:
    columns = []
    for _, start, end in MEASURES:
        # date_part gives float8 (extract gives numeric, several times slower to sort).
        days = f"date_part('epoch', l.{end} - l.{start}) / 86400.0"
        when = f"l.{end} >= :start AND l.{end} < :end AND l.{start} IS NOT NULL"
        columns += [
            f"count(*) FILTER (WHERE {when})",
            f"percentile_cont(ARRAY[0.5, 0.75, 0.9]) WITHIN GROUP (ORDER BY {days})"
            f" FILTER (WHERE {when})",
        ]
    return f"SELECT {', '.join(columns)} FROM reporting.leads l WHERE {LIVE} AND {ENDS}"


_VELOCITY = text(_velocity_sql())


async def velocity(
    session: AsyncSession, workspace_id: str, period: Period
) -> list[dict[str, Any]]:
    row = (
        await session.execute(
            _VELOCITY, {"ws": workspace_id, "start": period.start, "end": period.end}
        )
    ).one()
    return velocity_rows([(int(row[2 * i]), row[2 * i + 1]) for i in range(len(MEASURES))])
