"""The cohort report's query: per cohort and the age at which its leads reached each stage,
how many leads (the table: domain/cohorts.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.buckets import SPAN_AFTER, Buckets
from services.reporting.domain.cohorts import STAGES, cohort_table
from services.reporting.domain.period import CohortUnit, Period
from services.reporting.store.reports.bucket_sql import age_sql
from services.reporting.store.reports.lead_sql import FIRST_SEEN, LIVE, cohort_sql


async def cohorts(
    session: AsyncSession, workspace_id: str, period: Period, unit: CohortUnit, as_of: datetime
) -> list[dict[str, Any]]:
    ages = ", ".join(
        f"CASE WHEN l.{s}_at <= :as_of THEN {age_sql(f'l.{s}_at', FIRST_SEEN, unit)} END"
        for s in STAGES
    )
    # Stages are counted up to as_of: the buckets reach that far (within reason).
    until = max(period.end, min(as_of, period.end + SPAN_AFTER))
    buckets = Buckets.spanning(period.zone, unit, period.start, until)
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
    now = as_of.astimezone(ZoneInfo(period.zone)).replace(tzinfo=None)
    return cohort_table(((row[0], row[1:-1], int(row[-1])) for row in rows), now, unit)
