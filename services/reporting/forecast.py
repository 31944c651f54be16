"""Forecast: expected MQLs, SQLs, customers and revenue over the next period, from the
pipeline as of now and what the given period showed (the method: METHOD, also in the
response)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.funnel import LIVE
from services.reporting.period import Period, rate
from services.reporting.revenue import money
from services.reporting.velocity import quantile

# Customers come from sql, not opportunity: many deals are won without an opportunity stage
# (a `Deal Won` event straight from sql), and a lead that reached sql has reached every
# stage before a win.
STEPS = (("lead", "mql"), ("mql", "sql"), ("sql", "customer"))
METHOD = (
    "For each step (lead -> mql, mql -> sql, sql -> customer), the period gives the "
    "conversion rate p (of the leads that reached the first stage in the period, the share "
    "that reached the next by now) and the conversion times of those that did (whole days). "
    "A lead still open in the first stage (not converted, disqualified or recycled since) "
    "for a days converts within the next H days (H = the period's length in days) with "
    "probability p * (F(a + H) - F(a)) / (1 - p * F(a)), F being the share of observed "
    "conversion times of at most that many days: the chance to convert at all, knowing it "
    "has not in a days. Expected = the sum over open leads; leads two steps away are not "
    "counted. Expected revenue = expected customers x the period's average sale value."
)


def expected(p: float, times: list[int], open_ages: Mapping[int, int], horizon: int) -> float:
    """Expected conversions within `horizon` days of open leads (age in days -> count), given
    the conversion rate `p` and the observed conversion times (days)."""
    ordered = sorted(times)
    if not ordered or p <= 0:
        return 0.0

    def cdf(days: int) -> float:
        return bisect.bisect_right(ordered, days) / len(ordered)

    total = 0.0
    for age, n in open_ages.items():
        remaining = 1 - p * cdf(age)
        if remaining > 0:
            total += n * p * (cdf(age + horizon) - cdf(age)) / remaining
    return total


async def forecast(
    session: AsyncSession, workspace_id: str, period: Period, as_of: datetime
) -> dict[str, Any]:
    params = {"ws": workspace_id, "start": period.start, "end": period.end, "as_of": as_of}
    rows: list[dict[str, Any]] = []
    for before, after in STEPS:
        f, t = f"l.{before}_at", f"l.{after}_at"
        observed = await session.execute(
            text(
                f"SELECT CASE WHEN {t} <= :as_of"
                f" THEN floor(date_part('epoch', {t} - {f}) / 86400)::int END, count(*)"
                f" FROM reporting.leads l WHERE {LIVE} AND {f} >= :start AND {f} < :end"
                " GROUP BY 1"
            ),
            params,
        )
        reached, times = 0, []
        for days, n in observed:
            reached += int(n)
            if days is not None:
                times += [int(days)] * int(n)
        # A lead open longer than every observed conversion time has no chance left
        # (F(a) = 1): only younger ones are read.
        pipeline = await session.execute(
            text(
                f"SELECT floor(date_part('epoch', :as_of - {f}) / 86400)::int, count(*)"
                f" FROM reporting.leads l WHERE {LIVE} AND {f} <= :as_of"
                f" AND {f} > :as_of - make_interval(days => :oldest)"
                f" AND ({t} <= :as_of) IS NOT TRUE"
                f" AND (l.disqualified_at BETWEEN {f} AND :as_of) IS NOT TRUE"
                f" AND (l.recycled_at BETWEEN {f} AND :as_of) IS NOT TRUE GROUP BY 1"
            ),
            params | {"oldest": (max(times) if times else 0) + 1},
        )
        ages = {int(age): int(n) for age, n in pipeline}
        p = len(times) / reached if reached else 0.0
        rows.append(
            {
                "measure": after,
                "from_stage": before,
                "pipeline": sum(ages.values()),
                "observed_leads": reached,
                "observed_conversion": rate(len(times), reached),
                "median_days": quantile([float(x) for x in times], 0.5) if times else None,
                "expected": round(expected(p, times, ages, period.days), 2),
            }
        )
    average = await session.scalar(
        text(
            "SELECT avg(coalesce(l.won_amount, l.opportunity_amount)) FROM reporting.leads l"
            f" WHERE {LIVE} AND l.customer_at >= :start AND l.customer_at < :end"
        ),
        params,
    )
    customers = float(rows[-1]["expected"])
    rows.append(
        {
            "measure": "revenue",
            "from_stage": "customer",
            "pipeline": None,
            "observed_leads": None,
            "observed_conversion": None,
            "median_days": None,
            "expected": money(customers * float(average)) if average is not None else None,
        }
    )
    return {
        "horizon_start": as_of,
        "horizon_end": as_of + timedelta(days=period.days),
        "method": METHOD,
        "rows": rows,
    }
