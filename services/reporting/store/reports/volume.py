"""The volume report's queries: touches per local day and type (from the 15-minute volume
buckets), and new leads per local day (the rows: domain/volume.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.buckets import Buckets
from services.reporting.domain.period import Period
from services.reporting.domain.volume import daily_rows
from services.reporting.store.reports.bucket_sql import label_sql

_TOUCHES = text(
    f"SELECT {label_sql('bucket', 'day')} AS day, type, sum(touches)"
    " FROM reporting.touch_volume"
    " WHERE workspace_id = :ws AND bucket >= :start AND bucket < :end"
    " GROUP BY 1, 2"
)
_NEW_LEADS = text(
    f"SELECT {label_sql('subscriber_at', 'day')} AS day, count(*)"
    " FROM reporting.leads"
    " WHERE workspace_id = :ws AND merged_into IS NULL"
    " AND subscriber_at >= :start AND subscriber_at < :end GROUP BY 1"
)


async def volume(session: AsyncSession, workspace_id: str, period: Period) -> list[dict[str, Any]]:
    """Rows (date, measure, type, count): measure `touchpoints` per type, `new_leads`."""
    params = {"ws": workspace_id, "start": period.start, "end": period.end, "tz": period.zone}
    params |= Buckets.spanning(period.zone, "day", period.start, period.end).params()
    touches = await session.execute(_TOUCHES, params)
    new_leads = await session.execute(_NEW_LEADS, params)
    return daily_rows(
        [(day, kind, int(n)) for day, kind, n in touches],
        [(day, int(n)) for day, n in new_leads],
    )
