"""HTTP routes of the reporting service (secret API key): JSON, or CSV with
`Accept: text/csv` or `?format=csv`, columns named the same in both. Each report lives in
its own module; this one only reads parameters and shapes answers."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import attribution as attribution_report
from services.reporting import cohorts as cohorts_report
from services.reporting import forecast as forecast_report
from services.reporting import funnel as funnel_model
from services.reporting import nurture as nurture_report
from services.reporting import revenue as revenue_report
from services.reporting import velocity as velocity_model
from services.reporting import volume as volume_report
from services.reporting.period import Breakdown, CohortUnit, Period
from shared.auth import api_workspace
from shared.events import utcnow
from shared.web import CSV_OR_JSON
from shared.workspaces import WorkspaceInfo

router = APIRouter(prefix="/v1", tags=["reports"], responses=CSV_OR_JSON)
Workspace = Annotated[WorkspaceInfo, Depends(api_workspace)]
MAX_DAYS = 3660


@dataclass(frozen=True)
class Report:
    """The parameters every report takes."""

    period: Period
    as_of: datetime
    csv: bool

    def meta(self) -> dict[str, Any]:
        return {
            "start": self.period.first,
            "end": self.period.last,
            "tz": self.period.zone,
            "as_of": self.as_of,
        }


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


def as_csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or (list(rows[0]) if rows else []))
    writer.writeheader()
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


def session_of(request: Request) -> AsyncSession:
    session: AsyncSession = request.app.state.runtime.sessions()
    return session


FUNNEL_COLUMNS = [
    "stage",
    "reached",
    "conversion_from_previous",
    "conversion_from_top",
    "converted",
    "in_progress",
    "lost",
    "window_days",
]


@router.get(
    "/funnel",
    summary="Leads reaching each stage in the period, conversions, in progress, lost, drop-off",
)
async def get_funnel(
    request: Request,
    workspace: Workspace,
    params: Params,
    breakdown: Annotated[
        Breakdown | None,
        Query(description="first-touch source, medium, campaign; sequence; cohort"),
    ] = None,
    cohort: Annotated[CohortUnit, Query(description="cohort unit for breakdown=cohort")] = "month",
) -> Any:
    windows = request.app.state.runtime.settings.windows()
    async with session_of(request) as session:
        result = await funnel_model.funnel(
            session,
            workspace.id,
            params.period,
            as_of=params.as_of,
            windows=windows,
            breakdown=breakdown,
            cohort_unit=cohort,
        )
    if params.csv:
        if breakdown is None:
            return as_csv(result["stages"], FUNNEL_COLUMNS)
        rows = [{"group": g["group"], **s} for g in result["groups"] for s in g["stages"]]
        return as_csv(rows, ["group", *FUNNEL_COLUMNS])
    return {**params.meta(), "breakdown": breakdown, "conversion_window_days": windows, **result}


@router.get(
    "/velocity",
    summary="Time in each stage and from first touch to MQL, SQL, customer (median, p75, p90)",
)
async def get_velocity(request: Request, workspace: Workspace, params: Params) -> Any:
    async with session_of(request) as session:
        rows = await velocity_model.velocity(session, workspace.id, params.period)
    if params.csv:
        return as_csv(rows)
    return {**params.meta(), "measures": rows}


def _rows(params: Report, rows: list[dict[str, Any]], columns: list[str], **meta: Any) -> Any:
    if params.csv:
        return as_csv(rows, columns)
    return {**params.meta(), **meta, "rows": rows}


@router.get("/volume", summary="Touchpoints by type and new leads, per local day")
async def get_volume(request: Request, workspace: Workspace, params: Params) -> Any:
    async with session_of(request) as session:
        rows = await volume_report.volume(session, workspace.id, params.period)
    return _rows(params, rows, ["date", "measure", "type", "count"])


@router.get("/cohorts", summary="Share of each first-touch cohort reaching each stage, by age")
async def get_cohorts(
    request: Request,
    workspace: Workspace,
    params: Params,
    cohort: Annotated[CohortUnit, Query(description="week (from Monday) or month")] = "month",
) -> Any:
    async with session_of(request) as session:
        rows = await cohorts_report.cohorts(
            session, workspace.id, params.period, cohort, params.as_of
        )
    stages = cohorts_report.STAGES
    columns = ["cohort", "age", "leads", *(f"reached_{s}" for s in stages)]
    columns += [f"share_{s}" for s in stages]
    return _rows(params, rows, columns, cohort=cohort)


@router.get(
    "/attribution",
    summary="First-touch, last-touch and linear credit of sources and campaigns",
)
async def get_attribution(request: Request, workspace: Workspace, params: Params) -> Any:
    async with session_of(request) as session:
        rows = await attribution_report.attribution(session, workspace.id, params.period)
    columns = ["stage", "model", "dimension", "value", "credit", "share"]
    return _rows(params, rows, columns)


REVENUE_COLUMNS = [
    "dimension",
    "value",
    "leads",
    "mqls",
    "customers",
    "revenue",
    "average_sale_value",
    "cost",
    "cost_per_lead",
    "cost_per_mql",
    "cost_per_customer",
]


@router.get(
    "/revenue",
    summary="Revenue, average sale value, cost per lead/MQL/customer by source, campaign, cohort",
)
async def get_revenue(
    request: Request,
    workspace: Workspace,
    params: Params,
    cohort: Annotated[CohortUnit, Query(description="week (from Monday) or month")] = "month",
) -> Any:
    async with session_of(request) as session:
        rows = await revenue_report.revenue(session, workspace.id, params.period, cohort)
    return _rows(params, rows, REVENUE_COLUMNS, cohort=cohort)


@router.post("/campaign-costs", status_code=201, summary="Record a campaign's cost for a period")
async def post_campaign_cost(
    request: Request, workspace: Workspace, cost: revenue_report.CampaignCost
) -> dict[str, Any]:
    async with session_of(request) as session, session.begin():
        cost_id = await revenue_report.record_cost(session, workspace.id, cost, datetime.now(UTC))
    return {"id": cost_id, **cost.model_dump()}


NURTURE_COLUMNS = [
    "sequence_id",
    "step_id",
    "variant_id",
    "enrolled",
    "sent",
    "opened",
    "clicked",
    "unsubscribed",
    "bounced",
    "reached_goal",
    "open_rate",
    "click_rate",
    "unsubscribe_rate",
    "bounce_rate",
    "goal_rate",
]


@router.get("/nurture", summary="Per sequence, step and variant: sends, opens, clicks, goals")
async def get_nurture(request: Request, workspace: Workspace, params: Params) -> Any:
    async with session_of(request) as session:
        rows = await nurture_report.nurture(session, workspace.id, params.period)
    return _rows(params, rows, NURTURE_COLUMNS)


@router.get("/forecast", summary="Expected MQLs, SQLs, customers and revenue next period")
async def get_forecast(request: Request, workspace: Workspace, params: Params) -> Any:
    async with session_of(request) as session:
        result = await forecast_report.forecast(session, workspace.id, params.period, params.as_of)
    columns = [
        "measure",
        "from_stage",
        "pipeline",
        "observed_leads",
        "observed_conversion",
        "median_days",
        "expected",
    ]
    meta = {k: v for k, v in result.items() if k != "rows"}
    return _rows(params, result["rows"], columns, **meta)
