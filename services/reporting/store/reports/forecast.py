"""The forecast report's queries: per step, the period's conversions and the open pipeline's
ages; the average sale value (the method: domain/forecast.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain import forecast as rules
from services.reporting.domain.period import Period
from services.reporting.store.reports.lead_sql import LIVE


def _observed_sql(f: str, t: str) -> str:
    return (
        f"SELECT CASE WHEN {t} <= :as_of"
        f" THEN floor(date_part('epoch', {t} - {f}) / 86400)::int END, count(*)"
        f" FROM reporting.leads l WHERE {LIVE} AND {f} >= :start AND {f} < :end"
        " GROUP BY 1"
    )


def _pipeline_sql(f: str, t: str) -> str:
    # A lead open longer than every observed conversion time has no chance left: only
    # younger ones are read.
    return (
        f"SELECT floor(date_part('epoch', :as_of - {f}) / 86400)::int, count(*)"
        f" FROM reporting.leads l WHERE {LIVE} AND {f} <= :as_of"
        f" AND {f} > :as_of - make_interval(days => :oldest)"
        f" AND ({t} <= :as_of) IS NOT TRUE"
        f" AND (l.disqualified_at BETWEEN {f} AND :as_of) IS NOT TRUE"
        f" AND (l.recycled_at BETWEEN {f} AND :as_of) IS NOT TRUE GROUP BY 1"
    )


_AVERAGE_SALE = (
    "SELECT avg(coalesce(l.won_amount, l.opportunity_amount)) FROM reporting.leads l"
    f" WHERE {LIVE} AND l.customer_at >= :start AND l.customer_at < :end"
)


async def forecast(
    session: AsyncSession, workspace_id: str, period: Period, as_of: datetime
) -> dict[str, Any]:
    params = {"ws": workspace_id, "start": period.start, "end": period.end, "as_of": as_of}
    rows: list[dict[str, Any]] = []
    for before, after in rules.STEPS:
        f, t = f"l.{before}_at", f"l.{after}_at"
        groups = await session.execute(text(_observed_sql(f, t)), params)
        reached, times = rules.observed(
            (None if days is None else int(days), int(n)) for days, n in groups
        )
        pipeline = await session.execute(
            text(_pipeline_sql(f, t)), params | {"oldest": rules.oldest_open(times)}
        )
        ages = {int(age): int(n) for age, n in pipeline}
        rows.append(rules.step_row((before, after), reached, times, ages, period.days))
    average = await session.scalar(text(_AVERAGE_SALE), params)
    customers = float(rows[-1]["expected"])
    rows.append(rules.revenue_row(customers, None if average is None else float(average)))
    return {
        "horizon_start": as_of,
        "horizon_end": as_of + timedelta(days=period.days),
        "method": rules.METHOD,
        "rows": rows,
    }
