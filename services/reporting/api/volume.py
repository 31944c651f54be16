"""GET /v1/volume: touchpoints by type and new leads, per local day."""

from __future__ import annotations

from typing import Any

from services.reporting.api.answers import reports_router, rows_answer
from services.reporting.api.deps import Params
from services.reporting.api.schemas import VOLUME_COLUMNS
from services.reporting.store.reports import volume as volume_report
from shared.deps import Session, Workspace

router = reports_router()


@router.get("/volume", summary="Touchpoints by type and new leads, per local day")
async def get_volume(session: Session, workspace: Workspace, params: Params) -> Any:
    rows = await volume_report.volume(session, workspace.id, params.period)
    return rows_answer(params, rows, VOLUME_COLUMNS)
