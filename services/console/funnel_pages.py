"""The funnel page: every report in reports.REPORTS for a date range and the pickers the
reports take (breakdown, cohort unit, ...), each as a chart, a table, and a CSV download of
the same rows (reporting's own CSV for the same parameters)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from services.console.client import Api, ApiError
from services.console.reports import BY_KEY, REPORTS, Report, page_options
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


def picked_or_400(report: Report, query: Mapping[str, str]) -> dict[str, str]:
    try:
        return report.picked(query)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def csv_name(key: str, params: Mapping[str, str]) -> str:
    """leadflow-funnel-by-source-2026-01-01-to-2026-01-31.csv: the report and what it was
    asked for, so two downloads of one report do not look alike."""
    extra = [v for k, v in params.items() if k not in ("start", "end", "tz")]
    by = f"-by-{'-'.join(extra)}" if extra else ""
    return f"leadflow-{key}{by}-{params['start']}-to-{params['end']}.csv"


def _block(report: Report, data: dict[str, Any], picked: Mapping[str, str], key: str) -> Any:
    return {
        "key": key,
        "chart": report.chart(data, picked, key),
        "rows": report.rows(data, picked),
        "note": report.note(data),
    }


async def _one(
    client: Api, report: Report, base: dict[str, str], query: Mapping[str, str]
) -> dict[str, Any]:
    picked = picked_or_400(report, query)
    params = {**base, **report.query(picked)}
    section: dict[str, Any] = {
        "report": report,
        "columns": report.columns(picked),
        "csv": f"/funnel/{report.key}.csv?{urlencode(params)}",
    }
    try:
        data = await client.get("reporting", report.path, **params)
    except ApiError as exc:
        if exc.status not in (400, 422):
            raise
        return {**section, "error": exc.message, "csv": None}
    if report.enrich is not None:
        data = await report.enrich(client, data)
    section["explain"] = report.explain(data)
    if report.groups is not None and "groups" in data:
        section["groups"] = [
            {"name": name, **_block(report, part, picked, f"{report.key}-{i}")}
            for i, (name, part) in enumerate(report.groups(data))
        ]
        by = params.get("breakdown", "group")
        section["note"] = (
            f"{len(section['groups'])} groups by {by}."
            if section["groups"]
            else f"No lead reached a stage in this period (by {by})."
        )
    else:
        section |= _block(report, data, picked, report.key)
    return section


@router.get("/funnel")
async def funnel(
    request: Request, client: Client, start: str = "", end: str = "", tz: str = "UTC"
) -> Response:
    first, last = period(start, end, datetime.now(UTC).date())
    base = {"start": first, "end": last, "tz": tz.strip() or "UTC"}
    query = request.query_params
    chosen: dict[str, str] = {}
    for report in REPORTS:
        chosen |= picked_or_400(report, query)
    sections = await asyncio.gather(*(_one(client, r, base, query) for r in REPORTS))
    return render(
        request,
        "funnel.html",
        sections=sections,
        params=base,
        options=page_options(),
        chosen=chosen,
    )


@router.get("/funnel/{key}.csv")
async def download(
    request: Request, client: Client, key: str, start: str, end: str, tz: str = "UTC"
) -> Response:
    report = BY_KEY.get(key)
    if report is None:
        raise HTTPException(404, f"no report {key!r}")
    params = {"start": start, "end": end, "tz": tz}
    params |= report.query(picked_or_400(report, request.query_params))
    found = await client.raw("reporting", "GET", report.path, params={**params, "format": "csv"})
    return Response(
        found.content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{csv_name(key, params)}"'},
    )
