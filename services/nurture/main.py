"""Wiring of the nurture service; run it with `leadflow serve nurture`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from fastapi import FastAPI

from services.nurture import api, handlers
from services.nurture.adapters.mailer import Mailer
from services.nurture.api.unsubscribe import unsubscribe_router
from services.nurture.settings import NurtureSettings
from services.nurture.store import tables
from services.nurture.workers import delivery, scheduler
from shared.audit_api import audit_router
from shared.events import Envelope, Topics
from shared.runtime import ServiceRuntime
from shared.web import Extension, create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def _lifespan(
    settings: NurtureSettings,
) -> Extension:
    """The consumer (handlers.apply_events), the scheduler and the delivery worker."""

    @contextlib.asynccontextmanager
    async def nurture(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        topic = runtime.topics.email_events

        async def on_events(envelopes: Sequence[Envelope]) -> None:
            async with runtime.uow() as uow:
                await handlers.apply_events(uow, envelopes, topic=topic)

        runtime.consume(
            [runtime.topics.lead_events, runtime.topics.touchpoints, runtime.topics.email_events],
            on_events,
        )
        runtime.background(
            scheduler.run_forever(
                runtime.uow,
                topic=topic,
                every_seconds=settings.scheduler_every_seconds,
                stop=runtime.stopping,
            ),
            "nurture scheduler",
        )
        mailers = [Mailer.from_settings(settings) for _ in range(settings.smtp_connections)]

        def workspace_name(workspace_id: str) -> str:
            found = runtime.directory.get(workspace_id)
            return found.name if found else workspace_id

        runtime.background(
            delivery.run_forever(
                runtime.uow,
                mailers,
                settings,
                topic=topic,
                stop=runtime.stopping,
                workspace_name=workspace_name,
            ),
            "nurture delivery",
        )
        try:
            yield
        finally:
            for mailer in mailers:
                await mailer.close()

    return nurture


def create_app(settings: NurtureSettings | None = None) -> FastAPI:
    settings = settings or NurtureSettings()
    app = create_service_app(
        settings,
        title="LeadFlow nurture",
        inbox=tables.inbox,
        outbox=tables.outbox,
        routers=[api.router, audit_router(tables.audit_log, "consent changes, erasures")],
        extension=_lifespan(settings),
    )
    # Recipients' one-click unsubscribe (no API key: the signed token is the proof).
    app.include_router(
        unsubscribe_router(
            uow_factory=lambda: app.state.runtime.uow(),
            secret=settings.secret_key.get_secret_value(),
            topic=Topics(settings.topic_prefix).email_events,
        )
    )
    return app
