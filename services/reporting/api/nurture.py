"""GET /v1/nurture: per sequence, step and variant, sends, opens, clicks and goals."""

from __future__ import annotations

from typing import Any

from services.reporting.api.answers import reports_router, rows_answer
from services.reporting.api.deps import Params
from services.reporting.api.schemas import NURTURE_COLUMNS
from services.reporting.store.reports import nurture as nurture_report
from shared.deps import Session, Workspace

router = reports_router()


@router.get("/nurture", summary="Per sequence, step and variant: sends, opens, clicks, goals")
async def get_nurture(session: Session, workspace: Workspace, params: Params) -> Any:
    rows = await nurture_report.nurture(session, workspace.id, params.period)
    return rows_answer(params, rows, NURTURE_COLUMNS)
