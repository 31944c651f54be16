"""Velocity: how long leads spend in each stage, and from first touch to MQL, SQL and
customer (the sales cycle), as median, p75 and p90 in days.

Counted for the leads that reached the later stage within the period (reached as in
funnel.reached: entering a later stage counts, and a skipped stage takes no time). First
touch here is the first stage entry. Quantiles interpolate linearly between order
statistics (PostgreSQL's percentile_cont, numpy's default)."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.funnel import FUNNEL, LIVE, Period

MILESTONES = ("mql", "sql", "customer")
# Every measure ends at a stage after subscriber: the leads that reached one in the period
# (fewer than the funnel's, which also reads those that only became subscribers).
ENDS = "(" + " OR ".join(f"(l.{s}_at >= :start AND l.{s}_at < :end)" for s in FUNNEL[1:]) + ")"


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default, 'linear')."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _measures() -> list[tuple[str, str, str]]:
    """(name, from column, to column): days from one to the other, counted when `to` falls
    in the period."""
    out = [(f"time_in_{a}", f"{a}_at", f"{b}_at") for a, b in itertools.pairwise(FUNNEL)]
    return out + [(f"first_touch_to_{m}", "subscriber_at", f"{m}_at") for m in MILESTONES]


async def velocity(
    session: AsyncSession, workspace_id: str, period: Period
) -> list[dict[str, Any]]:
    columns = []
    for _, start, end in _measures():
        # date_part gives float8 (extract gives numeric, several times slower to sort).
        days = f"date_part('epoch', l.{end} - l.{start}) / 86400.0"
        when = f"l.{end} >= :start AND l.{end} < :end AND l.{start} IS NOT NULL"
        columns += [
            f"count(*) FILTER (WHERE {when})",
            f"percentile_cont(ARRAY[0.5, 0.75, 0.9]) WITHIN GROUP (ORDER BY {days})"
            f" FILTER (WHERE {when})",
        ]
    row = (
        await session.execute(
            text(f"SELECT {', '.join(columns)} FROM reporting.leads l WHERE {LIVE} AND {ENDS}"),
            {"ws": workspace_id, "start": period.start, "end": period.end},
        )
    ).one()
    out = []
    for i, (name, _, _) in enumerate(_measures()):
        n, quantiles = int(row[2 * i]), row[2 * i + 1]
        median, p75, p90 = (round(float(q), 3) for q in quantiles) if n else (None, None, None)
        out.append(
            {"measure": name, "leads": n, "median_days": median, "p75_days": p75, "p90_days": p90}
        )
    return out
