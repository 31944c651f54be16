"""HTTP routes of the reporting service (secret API key), one module per report: JSON, or
CSV with `Accept: text/csv` or `?format=csv`, columns named the same in both."""

from __future__ import annotations

from fastapi import APIRouter

from services.reporting.api import attribution, cohorts, forecast, funnel, nurture, revenue, volume

# In the order /docs lists them.
ROUTERS: list[APIRouter] = [
    funnel.router,
    volume.router,
    cohorts.router,
    attribution.router,
    revenue.router,
    nurture.router,
    forecast.router,
]
