"""The revenue report's queries: the campaigns' recorded costs, and one pass over the
period's leads grouped by every dimension at once (the rules: domain/revenue.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.period import CohortUnit, Period
from services.reporting.domain.revenue import DIMENSIONS, cost_in, revenue_rows, roll_up
from services.reporting.store.costs import recorded_costs
from services.reporting.store.reports.lead_sql import LIVE, cohort_params, group_sql

# The leads counted: new (subscriber), MQL or customer in the period.
COUNTED = (
    "("
    + " OR ".join(
        f"(l.{s}_at >= :start AND l.{s}_at < :end)" for s in ("subscriber", "mql", "customer")
    )
    + ")"
)


def _figures_sql(unit: CohortUnit) -> str:
    inside = "l.{0}_at >= :start AND l.{0}_at < :end"
    value = "coalesce(l.won_amount, l.opportunity_amount)"
    groups = [group_sql(dim, unit)[0] for dim in DIMENSIONS]  # type: ignore[arg-type]
    # One pass over the period's leads, grouped by every dimension at once (a few hundred
    # combinations), rolled up per dimension afterwards: cheaper than GROUPING SETS, which
    # sorts the leads once per dimension.
    return (
        f"SELECT {', '.join(groups)},"
        f" count(*) FILTER (WHERE {inside.format('subscriber')}),"
        f" count(*) FILTER (WHERE {inside.format('mql')}),"
        f" count(*) FILTER (WHERE {inside.format('customer')}),"
        f" sum({value}) FILTER (WHERE {inside.format('customer')}),"
        f" count({value}) FILTER (WHERE {inside.format('customer')})"
        f" FROM reporting.leads l WHERE {LIVE} AND {COUNTED}"
        f" GROUP BY {', '.join(str(i + 1) for i in range(len(groups)))}"
    )


async def revenue(
    session: AsyncSession, workspace_id: str, period: Period, unit: CohortUnit = "month"
) -> list[dict[str, Any]]:
    assert period.first is not None
    assert period.last is not None
    costs = cost_in(period.first, period.last, await recorded_costs(session, workspace_id))
    params = {"ws": workspace_id, "start": period.start, "end": period.end, "tz": period.zone}
    params |= cohort_params(period, unit)
    rows = await session.execute(text(_figures_sql(unit)), params)
    return revenue_rows(roll_up(rows), costs)
