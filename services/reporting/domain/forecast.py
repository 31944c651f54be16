"""Forecast: expected MQLs, SQLs, customers and revenue over the next period, from the
pipeline as of now and what the given period showed (the method: METHOD, also in the
response)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from typing import Any

from services.reporting.domain.period import rate
from services.reporting.domain.revenue import money
from services.reporting.domain.velocity import quantile

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


def observed(groups: Iterable[tuple[int | None, int]]) -> tuple[int, list[int]]:
    """(leads that reached the step's first stage, the conversion times in days of those
    that converted) from groups (days to convert or None, how many)."""
    reached, times = 0, []
    for days, n in groups:
        reached += n
        if days is not None:
            times += [days] * n
    return reached, times


def oldest_open(times: list[int]) -> int:
    """Open leads at least this many days old have no chance left (F(a) = 1)."""
    return (max(times) if times else 0) + 1


def step_row(
    step: tuple[str, str], reached: int, times: list[int], ages: Mapping[int, int], horizon: int
) -> dict[str, Any]:
    """A step's row, from the period's observations and the open leads' ages (days)."""
    before, after = step
    p = len(times) / reached if reached else 0.0
    return {
        "measure": after,
        "from_stage": before,
        "pipeline": sum(ages.values()),
        "observed_leads": reached,
        "observed_conversion": rate(len(times), reached),
        "median_days": quantile([float(x) for x in times], 0.5) if times else None,
        "expected": round(expected(p, times, ages, horizon), 2),
    }


def revenue_row(customers: float, average_sale: float | None) -> dict[str, Any]:
    """Expected revenue: expected customers at the period's average sale value."""
    return {
        "measure": "revenue",
        "from_stage": "customer",
        "pipeline": None,
        "observed_leads": None,
        "observed_conversion": None,
        "median_days": None,
        "expected": money(customers * average_sale) if average_sale is not None else None,
    }
