"""Wiring of the reporting service; run it with `leadflow serve reporting`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from fastapi import FastAPI

from services.reporting import handlers
from services.reporting.api import ROUTERS
from services.reporting.domain.pseudonyms import pseudonymizer
from services.reporting.settings import ReportingSettings
from services.reporting.store import tables
from shared.events import Envelope
from shared.runtime import ServiceRuntime
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()

    @contextlib.asynccontextmanager
    async def reporting(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        pseudonymize = pseudonymizer(settings.secret_key.get_secret_value())

        async def on_events(envelopes: Sequence[Envelope]) -> None:
            await handlers.apply_and_commit(runtime.uow(), envelopes, pseudonymize=pseudonymize)

        topics = runtime.topics
        runtime.consume(
            [topics.lead_events, topics.touchpoints, topics.email_events],
            on_events,
            whole_poll=True,
            prefetch=True,
        )
        yield

    return create_service_app(
        settings,
        title="LeadFlow reporting",
        inbox=tables.inbox,
        outbox=tables.outbox,
        routers=ROUTERS,
        extension=reporting,
    )
