"""GET /v1/revenue and POST /v1/campaign-costs: revenue and acquisition cost, and the costs
of campaigns it is computed from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query

from services.reporting.api.answers import reports_router, rows_answer
from services.reporting.api.deps import Params
from services.reporting.api.schemas import REVENUE_COLUMNS, CampaignCost
from services.reporting.domain.period import CohortUnit
from services.reporting.store import costs
from services.reporting.store.reports import revenue as revenue_report
from shared.deps import Session, Uow, Workspace

router = reports_router()


@router.get(
    "/revenue",
    summary="Revenue, average sale value, cost per lead/MQL/customer by source, campaign, cohort",
)
async def get_revenue(
    session: Session,
    workspace: Workspace,
    params: Params,
    cohort: Annotated[CohortUnit, Query(description="week (from Monday) or month")] = "month",
) -> Any:
    rows = await revenue_report.revenue(session, workspace.id, params.period, cohort)
    return rows_answer(params, rows, REVENUE_COLUMNS, cohort=cohort)


@router.post("/campaign-costs", status_code=201, summary="Record a campaign's cost for a period")
async def post_campaign_cost(uow: Uow, workspace: Workspace, cost: CampaignCost) -> dict[str, Any]:
    cost_id = await costs.record_cost(uow.session, workspace.id, cost, datetime.now(UTC))
    return {"id": cost_id, **cost.model_dump()}
