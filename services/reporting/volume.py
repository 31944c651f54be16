"""Volume: touchpoints by type, and new leads, per local day.

A new lead is one whose first stage entry (becoming a subscriber or anything later) falls
on that day. Touchpoints are counted from 15-minute buckets, exact for every time zone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.cohort_buckets import Buckets, label_sql
from services.reporting.period import Period


async def volume(session: AsyncSession, workspace_id: str, period: Period) -> list[dict[str, Any]]:
    """Rows (date, measure, type, count): measure `touchpoints` per type, `new_leads`."""
    params = {"ws": workspace_id, "start": period.start, "end": period.end, "tz": period.zone}
    params |= Buckets.spanning(period.zone, "day", period.start, period.end).params()
    touch_rows = await session.execute(
        text(
            f"SELECT {label_sql('bucket', 'day')} AS day, type, sum(touches)"
            " FROM reporting.touch_volume"
            " WHERE workspace_id = :ws AND bucket >= :start AND bucket < :end"
            " GROUP BY 1, 2"
        ),
        params,
    )
    lead_rows = await session.execute(
        text(
            f"SELECT {label_sql('subscriber_at', 'day')} AS day, count(*)"
            " FROM reporting.leads"
            " WHERE workspace_id = :ws AND merged_into IS NULL"
            " AND subscriber_at >= :start AND subscriber_at < :end GROUP BY 1"
        ),
        params,
    )
    rows = [
        {"date": day, "measure": "touchpoints", "type": kind, "count": int(n)}
        for day, kind, n in touch_rows
    ]
    rows += [
        {"date": day, "measure": "new_leads", "type": "", "count": int(n)} for day, n in lead_rows
    ]
    rows.sort(key=lambda r: (r["date"], r["measure"] != "new_leads", r["type"]))
    return rows
