"""The funnel page: every report in reports.REPORTS for a date range, each as a chart, a
table, and a CSV download of the same rows (reporting's own CSV)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from services.console.client import Api, ApiError
from services.console.reports import BY_KEY, REPORTS, Report
from services.console.web import api, render

router = APIRouter()
Client = Annotated[Api, Depends(api)]
DEFAULT_DAYS = 30


def period(start: str, end: str, today: date) -> tuple[str, str]:
    """The range asked for, or the last 30 days ending today."""
    return (
        start or (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        end or today.isoformat(),
    )


async def _one(client: Api, report: Report, params: dict[str, str]) -> dict[str, Any]:
    try:
        data = await client.get("reporting", report.path, **params)
    except ApiError as exc:
        if exc.status not in (400, 422):
            raise
        return {"report": report, "error": exc.message}
    return {
        "report": report,
        "chart": report.chart(data),
        "rows": report.rows(data),
        "note": report.note(data),
        "csv": f"/funnel/{report.key}.csv?{urlencode(params)}",
    }


@router.get("/funnel")
async def funnel(
    request: Request, client: Client, start: str = "", end: str = "", tz: str = "UTC"
) -> Response:
    first, last = period(start, end, datetime.now(UTC).date())
    params = {"start": first, "end": last, "tz": tz.strip() or "UTC"}
    sections = await asyncio.gather(*(_one(client, r, params) for r in REPORTS))
    return render(request, "funnel.html", sections=sections, params=params)


@router.get("/funnel/{key}.csv")
async def download(
    request: Request, client: Client, key: str, start: str, end: str, tz: str = "UTC"
) -> Response:
    report = BY_KEY.get(key)
    if report is None:
        raise HTTPException(404, f"no report {key!r}")
    found = await client.raw(
        "reporting",
        "GET",
        report.path,
        params={"start": start, "end": end, "tz": tz, "format": "csv"},
    )
    name = f"leadflow-{key}-{start}-to-{end}.csv"
    return Response(
        found.content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
