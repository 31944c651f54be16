"""Wiring of the nurture service; run it with `leadflow serve nurture`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.nurture import models
from services.nurture.settings import NurtureSettings
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: NurtureSettings | None = None) -> FastAPI:
    settings = settings or NurtureSettings()
    return create_service_app(
        settings, title="LeadFlow nurture", inbox=models.inbox, outbox=models.outbox
    )
