"""The funnel page: every report in domain/reports.REPORTS for a date range and the pickers
the reports take (breakdown, cohort unit, ...), each as a chart, a table, and a CSV download
of the same rows (reporting's own CSV for the same parameters)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from services.console.adapters.client import Api, ApiError
from services.console.api.deps import Client
from services.console.api.web import render
from services.console.domain.reports import (
    BY_KEY,
    REPORTS,
    Report,
    csv_name,
    filled_section,
    page_options,
    period,
    refused_section,
    section_head,
)

router = APIRouter()


def picked_or_400(report: Report, query: Mapping[str, str]) -> dict[str, str]:
    try:
        return report.picked(query)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


async def _section(
    client: Api, report: Report, base: dict[str, str], query: Mapping[str, str]
) -> dict[str, Any]:
    """One report: asked of reporting, its sequences named by nurture where it has some."""
    picked = picked_or_400(report, query)
    params = {**base, **report.query(picked)}
    head = section_head(report, picked, params)
    try:
        data = await client.get("reporting", report.path, **params)
    except ApiError as exc:
        if exc.status not in (400, 422):
            raise
        return refused_section(head, exc.message)
    if report.name_sequences is not None and report.wants_names(data):
        data = report.name_sequences(data, await client.sequence_names())
    return filled_section(report, head, data, picked, params)


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
    sections = await asyncio.gather(*(_section(client, r, base, query) for r in REPORTS))
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
