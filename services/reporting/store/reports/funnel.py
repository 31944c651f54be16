"""The funnel report's query: per group, the leads that reached each stage in the period, and
of them those converted and lost as of `as_of` (the rules: domain/funnel.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain import funnel as rules
from services.reporting.domain.buckets import Buckets, cohorts_of
from services.reporting.domain.period import Breakdown, CohortUnit, Period
from services.reporting.domain.stages import FUNNEL
from services.reporting.store.reports.bucket_sql import number_sql, slow_label_sql
from services.reporting.store.reports.lead_sql import ACTIVE, FIRST_SEEN, LIVE, group_sql


async def funnel(
    session: AsyncSession,
    workspace_id: str,
    period: Period,
    *,
    as_of: datetime,
    windows: Mapping[str, int],
    breakdown: Breakdown | None = None,
    cohort_unit: CohortUnit = "month",
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "ws": workspace_id,
        "start": period.start,
        "end": period.end,
        "as_of": as_of,
        "tz": period.zone,
    }
    columns = _count_columns(params, as_of, windows)
    buckets = cohorts_of(period, cohort_unit) if breakdown == "cohort" else None
    if buckets is None:
        group, join = group_sql(breakdown, cohort_unit)
        query = (
            f"SELECT {group}, {', '.join(columns)} FROM reporting.leads l{join}"
            f" WHERE {LIVE} AND {ACTIVE} GROUP BY 1"
        )
    else:
        params |= buckets.params()
        query = _by_cohort_sql(columns, cohort_unit)
    rows = await session.execute(text(query), params)
    return rules.result(
        rules.add_up(_labelled(rows, buckets)), windows, grouped=breakdown is not None
    )


def _count_columns(
    params: dict[str, Any], as_of: datetime, windows: Mapping[str, int]
) -> list[str]:
    """Per stage: the leads that reached it in the period, and (but for the last) those of
    them that converted and those lost; adds each stage's window cutoff to `params`."""
    columns = []
    for i, stage in enumerate(FUNNEL):
        at = f"l.{stage}_at"
        inside = f"{at} >= :start AND {at} < :end"
        columns.append(f"count(*) FILTER (WHERE {inside})")
        if i + 1 == len(FUNNEL):
            continue
        params[f"cutoff_{stage}"] = as_of - timedelta(days=windows[stage])
        moved_on = f"l.{FUNNEL[i + 1]}_at <= :as_of"
        gone = (
            f"(l.disqualified_at BETWEEN {at} AND :as_of OR l.recycled_at BETWEEN {at} AND :as_of"
            f" OR {at} < :cutoff_{stage})"
        )
        columns.append(f"count(*) FILTER (WHERE {inside} AND {moved_on})")
        columns.append(f"count(*) FILTER (WHERE {inside} AND ({moved_on}) IS NOT TRUE AND {gone})")
    return columns


def _by_cohort_sql(columns: list[str], unit: CohortUnit) -> str:
    # Grouped by bucket number (labelled afterwards) in a subquery the planner keeps apart
    # (OFFSET 0): it cannot know there are few cohorts, and otherwise sorts every lead.
    leads = (
        f"(SELECT l.*, {number_sql(FIRST_SEEN)} AS cohort_number,"
        f" {slow_label_sql(FIRST_SEEN, unit)} AS cohort_label"
        f" FROM reporting.leads l WHERE {LIVE} AND {ACTIVE} OFFSET 0) l"
    )
    return (
        f"SELECT l.cohort_number, l.cohort_label, {', '.join(columns)} FROM {leads} GROUP BY 1, 2"
    )


def _labelled(
    rows: Iterable[Sequence[Any]], buckets: Buckets | None
) -> Iterator[tuple[str | None, Sequence[Any]]]:
    """(group label, the counts) of each result row."""
    for row in rows:
        if buckets is None:
            yield row[0], row[1:]
        else:
            yield buckets.label(row[0], row[1]), row[2:]
