"""Cohorts: leads grouped by the week (from Monday) or month of their first touch, and the
share of each cohort that had reached each stage by each age.

Age k of a cohort ends k+1 weeks (months) after the cohort's first local day; a lead reached
a stage by age k when it reached it (as in funnel.reached) before that end. Ages are listed
up to the one `as_of` falls in. Cohorts are those of leads first touched in the period."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import cohort_buckets
from services.reporting.cohort_buckets import age_sql
from services.reporting.funnel import FIRST_SEEN, LIVE, cohort_sql
from services.reporting.lead_model import FUNNEL
from services.reporting.period import CohortUnit, Period, rate

STAGES = FUNNEL[1:]  # every lead reached subscriber


def age_of(cohort: date, at: datetime, unit: CohortUnit) -> int:
    """Age (whole weeks or months since the cohort's first day) of a local wall time."""
    if unit == "week":
        return (at - datetime.combine(cohort, datetime.min.time())).days // 7
    months = (at.year - cohort.year) * 12 + at.month - cohort.month
    return months


async def cohorts(
    session: AsyncSession, workspace_id: str, period: Period, unit: CohortUnit, as_of: datetime
) -> list[dict[str, Any]]:
    ages = ", ".join(
        f"CASE WHEN l.{s}_at <= :as_of THEN {age_sql(f'l.{s}_at', FIRST_SEEN, unit)} END"
        for s in STAGES
    )
    # Stages are counted up to as_of: the buckets reach that far (within reason).
    until = max(period.end, min(as_of, period.end + cohort_buckets.SPAN_AFTER))
    buckets = cohort_buckets.Buckets.spanning(period.zone, unit, period.start, until)
    rows = await session.execute(
        text(
            f"SELECT {cohort_sql(unit)} AS cohort, {ages}, count(*) FROM reporting.leads l"
            f" WHERE {LIVE} AND {FIRST_SEEN} >= :start AND {FIRST_SEEN} < :end"
            " GROUP BY 1" + "".join(f", {i + 2}" for i in range(len(STAGES)))
        ),
        {
            "ws": workspace_id,
            "start": period.start,
            "end": period.end,
            "tz": period.zone,
            "as_of": as_of,
            **buckets.params(),
        },
    )
    size: dict[str, int] = defaultdict(int)
    reached_at: dict[tuple[str, str, int], int] = defaultdict(int)  # cohort, stage, age -> n
    for row in rows:
        cohort, n = row[0], int(row[-1])
        size[cohort] += n
        for stage, age in zip(STAGES, row[1:-1], strict=True):
            if age is not None:
                reached_at[(cohort, stage, age)] += n
    now = as_of.astimezone(ZoneInfo(period.zone)).replace(tzinfo=None)
    out = []
    for cohort in sorted(size):
        last_age = age_of(date.fromisoformat(cohort), now, unit)
        running = dict.fromkeys(STAGES, 0)
        for age in range(last_age + 1):  # a stage is never reached before the first touch
            row_out: dict[str, Any] = {"cohort": cohort, "age": age, "leads": size[cohort]}
            for stage in STAGES:
                running[stage] += reached_at.get((cohort, stage, age), 0)
                row_out[f"reached_{stage}"] = running[stage]
            for stage in STAGES:
                row_out[f"share_{stage}"] = rate(running[stage], size[cohort])
            out.append(row_out)
    return out
