"""Wiring of the scoring service; run it with `leadflow serve scoring`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from fastapi import FastAPI

from services.scoring import api, handlers, models
from services.scoring.settings import ScoringSettings
from shared.events import Envelope
from shared.runtime import ServiceRuntime
from shared.web import create_service_app


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    settings = settings or ScoringSettings()

    @contextlib.asynccontextmanager
    async def scoring(app: FastAPI, runtime: ServiceRuntime) -> AsyncIterator[None]:
        async def on_touchpoints(envelopes: Sequence[Envelope]) -> None:
            async with runtime.uow() as uow:
                await handlers.apply_touchpoints(uow, envelopes)

        runtime.consume([runtime.topics.touchpoints], on_touchpoints)
        yield

    return create_service_app(
        settings,
        title="LeadFlow scoring",
        inbox=models.inbox,
        outbox=models.outbox,
        routers=[api.router],
        extension=scoring,
    )
