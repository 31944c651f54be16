"""Wiring of the reporting service; run it with `leadflow serve reporting`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.reporting import models
from services.reporting.settings import ReportingSettings
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    return create_service_app(
        settings, title="LeadFlow reporting", inbox=models.inbox, outbox=models.outbox
    )
