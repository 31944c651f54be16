"""Wiring of the scoring service; run it with `leadflow serve scoring`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from fastapi import FastAPI

from services.scoring import api, handlers
from services.scoring.settings import ScoringSettings
from services.scoring.store import tables
from services.scoring.store.lead_cache import LeadCache
from services.scoring.workers import maintenance
from services.scoring.workers.live_models import LiveModels
from shared.events import Envelope
from shared.gc_tuning import tune_gc
from shared.runtime import ServiceRuntime
from shared.web import create_service_app


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    settings = settings or ScoringSettings()

    @contextlib.asynccontextmanager
    async def scoring(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        live = LiveModels(runtime.sessions, secret=settings.secret_key.get_secret_value())
        await live.refresh()
        app.state.models = live
        topic = runtime.topics.lead_events
        secret = settings.secret_key.get_secret_value()

        cache = LeadCache(settings.lead_cache_size) if settings.lead_cache_size else None

        async def on_touchpoints(envelopes: Sequence[Envelope]) -> None:
            await handlers.apply_and_commit(
                runtime.uow(), envelopes, live, topic=topic, secret=secret, cache=cache
            )

        runtime.background(live.follow(settings.model_poll_seconds, runtime), "model follower")
        # The handler's cost is mostly per call: one transaction per poll, all partitions;
        # the next poll is read and decoded while this one waits on PostgreSQL.
        runtime.consume(
            [runtime.topics.touchpoints, runtime.topics.email_events],
            on_touchpoints,
            whole_poll=True,
            prefetch=True,
        )
        runtime.background(
            maintenance.run_forever(runtime.uow, live, settings, topic, runtime),
            "scoring maintenance",
        )
        tune_gc()  # batches make many short-lived dicts: see shared/gc_tuning.py
        yield

    return create_service_app(
        settings,
        title="LeadFlow scoring",
        inbox=tables.inbox,
        outbox=tables.outbox,
        routers=[api.router],
        extension=scoring,
    )
