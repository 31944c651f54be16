"""Replay-safety beyond the inbox: applying the whole stream again, after the inbox forgot
it (DEDUPE_WINDOW_HOURS), in other batches and another order, changes no figure."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.registry import SERVICES
from services.reporting.domain.period import Period
from services.reporting.domain.pseudonyms import pseudonymizer
from services.reporting.handlers import apply_events
from services.reporting.settings import DEFAULT_WINDOWS
from services.reporting.store import tables as models
from services.reporting.store.reports import (
    attribution,
    cohorts,
    forecast,
    funnel,
    nurture,
    revenue,
    velocity,
    volume,
)
from shared.db import UnitOfWork, create_session_factory
from shared.db.migrations import upgrade
from shared.events import Envelope
from tests.integration.reporting_stream import generate

PSEUDONYMIZE = pseudonymizer("test-secret")

AS_OF = datetime(2026, 5, 20, tzinfo=UTC)


async def _reports(session: AsyncSession, ws: str) -> dict[str, Any]:
    period = Period.of_days(date(2026, 2, 20), date(2026, 5, 10), "America/New_York")
    return {
        "funnel": [
            await funnel.funnel(
                session, ws, period, as_of=AS_OF, windows=DEFAULT_WINDOWS, breakdown=b
            )
            for b in (None, "source", "medium", "campaign", "sequence", "cohort")
        ],
        "velocity": await velocity.velocity(session, ws, period),
        "volume": await volume.volume(session, ws, period),
        "cohorts": await cohorts.cohorts(session, ws, period, "week", AS_OF),
        "attribution": await attribution.attribution(session, ws, period),
        "revenue": await revenue.revenue(session, ws, period),
        "nurture": await nurture.nurture(session, ws, period),
        "forecast": await forecast.forecast(session, ws, period, AS_OF),
    }


async def _apply(sessions: Any, events: list[Envelope], batch: int) -> None:
    for start in range(0, len(events), batch):
        async with UnitOfWork(sessions, inbox=models.inbox, outbox=models.outbox) as uow:
            await apply_events(uow, events[start : start + batch], pseudonymize=PSEUDONYMIZE)


async def test_a_replay_after_the_inbox_forgot_changes_nothing(
    database_url: str, engine: AsyncEngine
) -> None:
    await upgrade(SERVICES["reporting"].migrations, database_url=database_url, schema="reporting")
    sessions = create_session_factory(engine)
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    stream = generate(ws, people=70, seed=4)
    events = stream.touchpoints + stream.lead_events + stream.email_events
    random.Random(1).shuffle(events)
    await _apply(sessions, events, batch=37)
    async with sessions() as session:
        first = await _reports(session, ws)
    assert all(first[k] for k in ("volume", "attribution", "nurture"))

    async with engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM reporting.inbox WHERE message_id = ANY(:ids)"),
            {"ids": [e.id for e in events]},
        )
    await _apply(sessions, events[::-1], batch=500)
    async with sessions() as session:
        assert await _reports(session, ws) == first
