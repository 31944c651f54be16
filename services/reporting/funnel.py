"""The funnel: how many leads reached each lifecycle stage in a period, and where they leak.

A lead reached a stage when it entered that stage or any later one (a deal won straight
from `lead` counts as having reached mql, sql and opportunity too: scoring does not enter
skipped stages, see docs/decisions/0007). The time it reached a stage is the first of those.

Of the leads that reached a stage in the period, as of `as_of`: `converted` reached the next
stage; `lost` did not and were disqualified or recycled since, or have been in the stage
longer than its conversion window; `in_progress` are the others, still inside the window.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import cohort_buckets
from services.reporting.lead_model import FUNNEL
from services.reporting.period import NO_TOUCH, NO_VALUE, Breakdown, CohortUnit, Period, rate

__all__ = ["FUNNEL", "Period", "funnel", "reached", "shape"]


def reached(entries: Mapping[str, datetime]) -> dict[str, datetime]:
    """stage -> when a lead with these first entries reached it (see the module's doc)."""
    out: dict[str, datetime] = {}
    first_later: datetime | None = None
    for stage in reversed(FUNNEL):
        at = entries.get(stage)
        if at is not None and (first_later is None or at < first_later):
            first_later = at
        if first_later is not None:
            out[stage] = first_later
    return out


def group_sql(breakdown: Breakdown | None, unit: CohortUnit = "month") -> tuple[str, str]:
    """(SQL of the group a lead row `l` falls in, extra FROM clause) for a breakdown."""
    if breakdown in ("source", "medium", "campaign"):
        # Keep in step with the statistics of migration 0007 (or the planner sorts).
        return (
            f"CASE WHEN l.first_touch_at IS NULL THEN '{NO_TOUCH}'"
            f" ELSE coalesce(l.{breakdown}, '{NO_VALUE}') END",
            "",
        )
    if breakdown == "cohort":
        return cohort_sql(unit), ""
    if breakdown == "sequence":
        # A lead counts in every sequence it was ever enrolled in (kept on its row).
        return (
            f"coalesce(en.sequence_id, '{NO_VALUE}')",
            " LEFT JOIN LATERAL unnest(l.sequences) en(sequence_id) ON true",
        )
    return "''", ""


FIRST_SEEN = "least(l.first_touch_at, l.subscriber_at)"


def cohort_sql(unit: CohortUnit) -> str:
    """The first local day of the week (Monday) or month of the lead's first touch (its first
    stage entry when reporting saw no touchpoint of it); needs `cohort_params`."""
    return cohort_buckets.label_sql(FIRST_SEEN, unit)


def cohorts_of(period: Period, unit: CohortUnit) -> cohort_buckets.Buckets:
    """The cohort buckets of the leads active in `period` (first seen before its end)."""
    since = period.start - cohort_buckets.SPAN_BEFORE
    return cohort_buckets.Buckets.spanning(period.zone, unit, since, period.end)


def cohort_params(period: Period, unit: CohortUnit) -> dict[str, Any]:
    """Parameters of `cohort_sql` for the leads active in `period`."""
    return cohorts_of(period, unit).params()


LIVE = "l.workspace_id = :ws AND l.merged_into IS NULL"
# Leads that reached some stage in [:start, :end): one index range per stage (a bitmap OR),
# not every lead of the workspace.
ACTIVE = "(" + " OR ".join(f"(l.{s}_at >= :start AND l.{s}_at < :end)" for s in FUNNEL) + ")"


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
    group, join = group_sql(breakdown, cohort_unit)
    params: dict[str, Any] = {
        "ws": workspace_id,
        "start": period.start,
        "end": period.end,
        "as_of": as_of,
        "tz": period.zone,
    }
    leads = "reporting.leads l"
    buckets = None
    if breakdown == "cohort":
        # Grouped by bucket number (labelled here) in a subquery the planner keeps apart
        # (OFFSET 0): it cannot know there are few cohorts, and otherwise sorts every lead.
        buckets = cohorts_of(period, cohort_unit)
        params |= buckets.params()
        group = "l.cohort_number, l.cohort_label"
        leads = (
            f"(SELECT l.*, {cohort_buckets.number_sql(FIRST_SEEN)} AS cohort_number,"
            f" {cohort_buckets.slow_label_sql(FIRST_SEEN, cohort_unit)} AS cohort_label"
            f" FROM reporting.leads l WHERE {LIVE} AND {ACTIVE} OFFSET 0) l"
        )
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
    width = 2 if buckets else 1  # columns naming the group
    rows = await session.execute(
        text(
            f"SELECT {group}, {', '.join(columns)} FROM {leads}{join}"
            + ("" if buckets else f" WHERE {LIVE} AND {ACTIVE}")
            + f" GROUP BY {', '.join(map(str, range(1, width + 1)))}"
        ),
        params,
    )
    sums: dict[str, list[int]] = {}
    for row in rows:
        label = buckets.label(*row[:2]) if buckets else row[0]
        label = NO_VALUE if label is None else label
        total = sums.setdefault(label, [0] * (len(row) - width))
        for i, n in enumerate(row[width:]):
            total[i] += int(n)
    groups = []
    for label in sorted(sums):
        values = sums[label]
        counts, converted, lost = [], [], []
        for i in range(len(FUNNEL)):
            counts.append(values.pop(0))
            if i + 1 < len(FUNNEL):
                converted.append(values.pop(0))
                lost.append(values.pop(0))
        if any(counts):
            groups.append((label, shape(counts, converted, lost, windows)))
    if breakdown is None:
        empty = shape([0] * len(FUNNEL), [0] * 5, [0] * 5, windows)
        return groups[0][1] if groups else empty
    return {"groups": [{"group": g, **result} for g, result in groups]}


def shape(
    counts: list[int],
    converted: list[int] | None = None,
    lost: list[int] | None = None,
    windows: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Counts per funnel stage -> rows with conversions, and the largest drop-off."""
    rows: list[dict[str, Any]] = []
    conversions: list[float | None] = []
    for i, (stage, n) in enumerate(zip(FUNNEL, counts, strict=True)):
        previous = counts[i - 1] if i else None
        conversions.append(n / previous if previous else None)
        last = i + 1 == len(FUNNEL)
        done = None if last or converted is None else converted[i]
        gone = None if last or lost is None else lost[i]
        rows.append(
            {
                "stage": stage,
                "reached": n,
                "conversion_from_previous": rate(n, previous or 0),
                "conversion_from_top": rate(n, counts[0]),
                "converted": done,
                "in_progress": None if done is None or gone is None else n - done - gone,
                "lost": gone,
                "window_days": None if last or windows is None else windows[stage],
            }
        )
    drops = [
        (1 - conversion, FUNNEL[i - 1], FUNNEL[i])
        for i, conversion in enumerate(conversions)
        if conversion is not None
    ]
    # On a tie, the earliest step in the funnel (max keeps the first of equal keys).
    worst = max(drops, key=lambda d: d[0], default=None)
    return {
        "stages": rows,
        "largest_drop_off": (
            {"from": worst[1], "to": worst[2], "lost_share": round(worst[0], 4)} if worst else None
        ),
    }
