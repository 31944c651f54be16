"""Wiring of the ingest service; run it with `leadflow serve ingest`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.ingest import models
from services.ingest.settings import IngestSettings
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    return create_service_app(
        settings, title="LeadFlow ingest", inbox=models.inbox, outbox=models.outbox
    )
