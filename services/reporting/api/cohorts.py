"""GET /v1/cohorts: the share of each first-touch cohort reaching each stage, by age."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from services.reporting.api.answers import reports_router, rows_answer
from services.reporting.api.deps import Params
from services.reporting.api.schemas import COHORT_COLUMNS
from services.reporting.domain.period import CohortUnit
from services.reporting.store.reports import cohorts as cohorts_report
from shared.deps import Session, Workspace

router = reports_router()


@router.get("/cohorts", summary="Share of each first-touch cohort reaching each stage, by age")
async def get_cohorts(
    session: Session,
    workspace: Workspace,
    params: Params,
    cohort: Annotated[CohortUnit, Query(description="week (from Monday) or month")] = "month",
) -> Any:
    rows = await cohorts_report.cohorts(session, workspace.id, params.period, cohort, params.as_of)
    return rows_answer(params, rows, COHORT_COLUMNS, cohort=cohort)
