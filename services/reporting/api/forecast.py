"""GET /v1/forecast: expected MQLs, SQLs, customers and revenue over the next period."""

from __future__ import annotations

from typing import Any

from services.reporting.api.answers import reports_router, rows_answer
from services.reporting.api.deps import Params
from services.reporting.api.schemas import FORECAST_COLUMNS
from services.reporting.store.reports import forecast as forecast_report
from shared.deps import Session, Workspace

router = reports_router()


@router.get("/forecast", summary="Expected MQLs, SQLs, customers and revenue next period")
async def get_forecast(session: Session, workspace: Workspace, params: Params) -> Any:
    result = await forecast_report.forecast(session, workspace.id, params.period, params.as_of)
    meta = {k: v for k, v in result.items() if k != "rows"}
    return rows_answer(params, result["rows"], FORECAST_COLUMNS, **meta)
