"""Answers in JSON, or CSV with `Accept: text/csv` or `?format=csv`, columns named the same
in both."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from services.reporting.api.schemas import Report
from shared.csv_cells import csv_text
from shared.web import CSV_OR_JSON


def as_csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> Response:
    """The rows as CSV, cells that would open as formulas neutralised (shared/csv_cells.py)."""
    text = csv_text(rows, columns or (list(rows[0]) if rows else []))
    return Response(text, media_type="text/csv; charset=utf-8")


def rows_answer(params: Report, rows: list[dict[str, Any]], columns: list[str], **meta: Any) -> Any:
    """A report of rows: CSV, or JSON with the parameters, `meta` and the rows."""
    if params.csv:
        return as_csv(rows, columns)
    return {**params.meta(), **meta, "rows": rows}


def reports_router() -> APIRouter:
    """The router of a report's routes (secret API key; JSON or CSV)."""
    return APIRouter(prefix="/v1", tags=["reports"], responses=CSV_OR_JSON)
