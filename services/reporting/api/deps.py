"""Typed dependencies of the reporting routes: the report parameters, checked, and the
service's settings (shared.deps gives the session, unit of work and workspace)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, HTTPException, Query, Request

from services.reporting.api.schemas import Report
from services.reporting.domain.period import Period
from services.reporting.settings import ReportingSettings
from shared.deps import app_state
from shared.events import utcnow

MAX_DAYS = 3660


def report_params(
    request: Request,
    start: Annotated[date, Query(description="first day, in `tz`")],
    end: Annotated[date, Query(description="last day (included), in `tz`")],
    tz: Annotated[str, Query(description="IANA time zone of the days")] = "UTC",
    format: Annotated[
        Literal["json", "csv"] | None, Query(description="or `Accept: text/csv`")
    ] = None,
    as_of: Annotated[
        datetime | None,
        Query(description="the moment in-progress, ages and the pipeline are judged at (now)"),
    ] = None,
) -> Report:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise HTTPException(400, f"tz: {tz!r} is not an IANA time zone") from None
    if end < start:
        raise HTTPException(400, "end: must not be before start")
    if (end - start).days >= MAX_DAYS:
        raise HTTPException(400, f"end: the period may be at most {MAX_DAYS} days")
    if as_of is not None and as_of.tzinfo is None:
        raise HTTPException(400, "as_of: give a time zone offset, e.g. 2026-03-01T00:00:00Z")
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    return Report(Period.of_days(start, end, tz), as_of or utcnow(), wants_csv)


Params = Annotated[Report, Depends(report_params)]
Settings = Annotated[ReportingSettings, Depends(app_state("settings", ReportingSettings))]
