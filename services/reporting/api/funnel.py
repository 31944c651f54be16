"""GET /v1/funnel and GET /v1/velocity: the lifecycle funnel and the time leads take."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from services.reporting.api.answers import as_csv, reports_router
from services.reporting.api.deps import Params, Settings
from services.reporting.api.schemas import FUNNEL_COLUMNS
from services.reporting.domain.period import Breakdown, CohortUnit
from services.reporting.store.reports import funnel as funnel_report
from services.reporting.store.reports import velocity as velocity_report
from shared.deps import Session, Workspace

router = reports_router()


@router.get(
    "/funnel",
    summary="Leads reaching each stage in the period, conversions, in progress, lost, drop-off",
)
async def get_funnel(
    session: Session,
    settings: Settings,
    workspace: Workspace,
    params: Params,
    breakdown: Annotated[
        Breakdown | None,
        Query(description="first-touch source, medium, campaign; sequence; cohort"),
    ] = None,
    cohort: Annotated[CohortUnit, Query(description="cohort unit for breakdown=cohort")] = "month",
) -> Any:
    windows = settings.windows()
    result = await funnel_report.funnel(
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
async def get_velocity(session: Session, workspace: Workspace, params: Params) -> Any:
    rows = await velocity_report.velocity(session, workspace.id, params.period)
    if params.csv:
        return as_csv(rows)
    return {**params.meta(), "measures": rows}
