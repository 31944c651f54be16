"""Wiring of the scoring service; run it with `leadflow serve scoring`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.scoring import models
from services.scoring.settings import ScoringSettings
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    settings = settings or ScoringSettings()
    return create_service_app(
        settings, title="LeadFlow scoring", inbox=models.inbox, outbox=models.outbox
    )
