"""HTTP routes of the reporting service (secret API key): JSON, or CSV with
`Accept: text/csv` or `?format=csv`, columns named the same in both."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from services.reporting import funnel as funnel_model
from services.reporting import velocity as velocity_model
from shared.auth import api_workspace
from shared.web import CSV_OR_JSON
from shared.workspaces import WorkspaceInfo

router = APIRouter(prefix="/v1", tags=["reports"], responses=CSV_OR_JSON)
Workspace = Annotated[WorkspaceInfo, Depends(api_workspace)]


def period_of(start: date, end: date, tz: str) -> funnel_model.Period:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise HTTPException(400, f"tz: {tz!r} is not an IANA time zone") from None
    if end < start:
        raise HTTPException(400, "end: must not be before start")
    return funnel_model.Period.of_days(start, end, tz)


def as_csv(rows: list[dict[str, Any]]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [])
    writer.writeheader()
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


def wants_csv(request: Request, format: str | None) -> bool:
    return format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))


@router.get("/funnel", summary="Leads reaching each stage in the period, conversions, drop-off")
async def get_funnel(
    request: Request,
    workspace: Workspace,
    start: Annotated[date, Query(description="first day, in `tz`")],
    end: Annotated[date, Query(description="last day (included), in `tz`")],
    tz: str = "UTC",
    format: Literal["json", "csv"] | None = None,
) -> Any:
    period = period_of(start, end, tz)
    async with request.app.state.runtime.sessions() as session:
        result = await funnel_model.funnel(session, workspace.id, period)
    if wants_csv(request, format):
        return as_csv(result["stages"])
    return {"start": start, "end": end, "tz": tz, **result}


@router.get(
    "/velocity",
    summary="Time in each stage and from first touch to MQL, SQL, customer (median, p75, p90)",
)
async def get_velocity(
    request: Request,
    workspace: Workspace,
    start: Annotated[date, Query(description="first day, in `tz`")],
    end: Annotated[date, Query(description="last day (included), in `tz`")],
    tz: str = "UTC",
    format: Literal["json", "csv"] | None = None,
) -> Any:
    period = period_of(start, end, tz)
    async with request.app.state.runtime.sessions() as session:
        rows = await velocity_model.velocity(session, workspace.id, period)
    if wants_csv(request, format):
        return as_csv(rows)
    return {"start": start, "end": end, "tz": tz, "measures": rows}
