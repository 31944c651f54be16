"""Velocity: how long leads spend in each stage, and from first touch to MQL, SQL and
customer (the sales cycle), as median, p75 and p90 in days.

Counted for the leads that reached the later stage within the period (reached as in
funnel.reached: entering a later stage counts, and a skipped stage takes no time).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.funnel import FUNNEL, Period, reached
from services.reporting.models import stage_entries

MILESTONES = ("mql", "sql", "customer")


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default, 'linear')."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _summary(name: str, days: list[float]) -> dict[str, Any]:
    if not days:
        return {
            "measure": name,
            "leads": 0,
            "median_days": None,
            "p75_days": None,
            "p90_days": None,
        }
    return {
        "measure": name,
        "leads": len(days),
        "median_days": round(quantile(days, 0.5), 3),
        "p75_days": round(quantile(days, 0.75), 3),
        "p90_days": round(quantile(days, 0.9), 3),
    }


def velocity_of(leads: Iterable[Mapping[str, datetime]], period: Period) -> list[dict[str, Any]]:
    """Rows (one per measure) from each lead's first entry per stage."""
    in_stage: dict[str, list[float]] = defaultdict(list)
    to_milestone: dict[str, list[float]] = defaultdict(list)
    for entries in leads:
        when = reached(entries)
        for stage, following in itertools.pairwise(FUNNEL):
            left = when.get(following)
            if stage in when and left is not None and period.start <= left < period.end:
                in_stage[stage].append((left - when[stage]).total_seconds() / 86400)
        first = when.get("subscriber")
        for milestone in MILESTONES:
            at = when.get(milestone)
            if first is not None and at is not None and period.start <= at < period.end:
                to_milestone[milestone].append((at - first).total_seconds() / 86400)
    rows = [_summary(f"time_in_{stage}", in_stage[stage]) for stage in FUNNEL[:-1]]
    rows += [_summary(f"first_touch_to_{m}", to_milestone[m]) for m in MILESTONES]
    return rows


async def velocity(
    session: AsyncSession, workspace_id: str, period: Period
) -> list[dict[str, Any]]:
    active = (
        select(stage_entries.c.lead_id)
        .where(
            stage_entries.c.workspace_id == workspace_id,
            stage_entries.c.entered_at >= period.start,
            stage_entries.c.entered_at < period.end,
        )
        .distinct()
        .scalar_subquery()
    )
    rows = await session.execute(
        select(stage_entries.c.lead_id, stage_entries.c.stage, stage_entries.c.entered_at).where(
            stage_entries.c.workspace_id == workspace_id, stage_entries.c.lead_id.in_(active)
        )
    )
    by_lead: dict[str, dict[str, datetime]] = defaultdict(dict)
    for lead_id, stage, at in rows:
        by_lead[lead_id][stage] = at
    return velocity_of(by_lead.values(), period)
