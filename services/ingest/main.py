"""Wiring of the ingest service; run it with `leadflow serve ingest`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import rjsmin
from fastapi import FastAPI
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter

from services.ingest import api, engagement, models, privacy_api, workspace_api
from services.ingest.privacy import ErasedIdentities
from services.ingest.publishing import TouchpointPublisher
from services.ingest.segment import Limits
from services.ingest.settings import IngestSettings
from services.ingest.state import IngestState
from shared.audit_api import audit_router
from shared.runtime import ServiceRuntime
from shared.web import create_service_app

TRACKER = Path(__file__).parent / "static" / "tracker.js"


def create_app(settings: IngestSettings | None = None) -> api.FastPath:
    settings = settings or IngestSettings()

    @contextlib.asynccontextmanager
    async def ingest(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        erased = ErasedIdentities(settings.secret_key.get_secret_value())
        async with runtime.sessions() as session:
            await erased.load(session)
        runtime.background(erased.follow(runtime.sessions, 5, runtime.stopping), "erasures")
        app.state.ingest = IngestState(
            settings=settings,
            directory=runtime.directory,
            touchpoints=TouchpointPublisher(
                runtime.publisher,
                runtime.topics.touchpoints,
                runtime.deadletters,
                ack_timeout=settings.ack_timeout_seconds,
                max_in_flight=settings.max_in_flight_events,
            ),
            limiter=FixedWindowRateLimiter(MemoryStorage()),
            rate=parse(settings.rate_limit),
            limits=Limits(settings.max_event_bytes, settings.max_batch_events),
            tracker_js=rjsmin.jsmin(TRACKER.read_text(), keep_bang_comments=False).encode(),
            erased=erased,
        )
        yield

    app = create_service_app(
        settings,
        title="LeadFlow ingest",
        inbox=models.inbox,
        outbox=models.outbox,
        routers=[
            api.router,
            engagement.router,
            privacy_api.router,
            workspace_api.router,
            audit_router(models.audit_log, "erasures, keys, settings"),
        ],
        extension=ingest,
    )
    return api.FastPath(app)
