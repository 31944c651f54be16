"""GET /v1/attribution: first-touch, last-touch and linear credit of sources and campaigns."""

from __future__ import annotations

from typing import Any

from services.reporting.api.answers import reports_router, rows_answer
from services.reporting.api.deps import Params
from services.reporting.api.schemas import ATTRIBUTION_COLUMNS
from services.reporting.store.reports import attribution as attribution_report
from shared.deps import Session, Workspace

router = reports_router()


@router.get(
    "/attribution",
    summary="First-touch, last-touch and linear credit of sources and campaigns",
)
async def get_attribution(session: Session, workspace: Workspace, params: Params) -> Any:
    rows = await attribution_report.attribution(session, workspace.id, params.period)
    return rows_answer(params, rows, ATTRIBUTION_COLUMNS)
