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

from services.ingest.adapters.publishing import TouchpointPublisher
from services.ingest.api import engagement, privacy, tracking, workspaces
from services.ingest.api.deps import IngestState
from services.ingest.domain.limits import Limits
from services.ingest.domain.privacy import ErasedIdentities
from services.ingest.settings import IngestSettings
from services.ingest.store import tables
from services.ingest.workers import erasures
from shared.audit_api import audit_router
from shared.runtime import ServiceRuntime
from shared.web import create_service_app

TRACKER = Path(__file__).parent / "static" / "tracker.js"


def _state(
    settings: IngestSettings, runtime: ServiceRuntime, erased: ErasedIdentities
) -> IngestState:
    return IngestState(
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


def create_app(settings: IngestSettings | None = None) -> tracking.FastPath:
    settings = settings or IngestSettings()

    @contextlib.asynccontextmanager
    async def ingest(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        erased = ErasedIdentities(settings.secret_key.get_secret_value())
        await erasures.reload(erased, runtime.sessions)
        runtime.background(
            erasures.run_forever(erased, runtime.sessions, 5, runtime.stopping), "erasures"
        )
        app.state.ingest = _state(settings, runtime, erased)
        yield

    app = create_service_app(
        settings,
        title="LeadFlow ingest",
        inbox=tables.inbox,
        outbox=tables.outbox,
        routers=[
            tracking.router,
            engagement.router,
            privacy.router,
            workspaces.router,
            audit_router(tables.audit_log, "erasures, keys, settings"),
        ],
        extension=ingest,
    )
    return tracking.FastPath(app)
