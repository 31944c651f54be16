"""Helpers for tests of the scoring service's handler against the real database."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.scoring import handlers
from services.scoring.store import tables
from services.scoring.store.lead_cache import LeadCache
from services.scoring.workers.live_models import LiveModels
from shared.bus import (
    ConsumerRunner,
    DeadLetterSink,
    KafkaPublisher,
    create_consumer,
    create_producer,
)
from shared.db import UnitOfWork, create_session_factory
from shared.events import Envelope, Topics, decode
from shared.settings import DEV_SECRET
from tests.integration.ingest_server import SECRET
from tests.integration.support import wait_for


@contextlib.asynccontextmanager
async def scoring_consumer(
    bootstrap: str,
    topics: Topics,
    engine: AsyncEngine,
    *,
    batch_size: int = 500,
    group: str | None = None,
) -> AsyncIterator[KafkaPublisher]:
    """The real scoring handler consuming `topics.touchpoints` (from its beginning, in a
    consumer group of its own, `group` if given) into the database of `engine`; yields a
    publisher to feed it."""
    sessions = create_session_factory(engine)
    live = LiveModels(sessions, secret=DEV_SECRET)
    await live.refresh()

    cache = LeadCache(10_000)  # as services/scoring/main.py runs it

    async def handle(envelopes: list[Envelope]) -> None:
        uow = UnitOfWork(sessions, inbox=tables.inbox, outbox=tables.outbox)
        await handlers.apply_and_commit(
            uow, envelopes, live, topic=topics.lead_events, secret=SECRET, cache=cache
        )

    producer = create_producer(bootstrap, client_id="test")
    await producer.start()
    publisher = KafkaPublisher(producer)
    group = group or f"scoring-{uuid.uuid4().hex[:6]}"
    runner = ConsumerRunner(
        create_consumer(bootstrap, group_id=group, client_id="test"),
        topics=[topics.touchpoints],
        group=group,
        handler=handle,
        deadletters=DeadLetterSink(publisher, topics.deadletter),
        service="scoring",
        batch_size=batch_size,
        whole_poll=True,
        prefetch=True,  # as services/scoring/main.py runs it
    )
    task = asyncio.create_task(runner.run())
    try:
        yield publisher
    finally:
        runner.stop()
        await task
        await producer.stop()


class Scoring:
    """The real batch handler on a database, fed directly (no Kafka)."""

    def __init__(self, engine: AsyncEngine, topic: str) -> None:
        """`topic` must exist: any scoring service's outbox relay may publish these rows."""
        self.engine = engine
        self.sessions: async_sessionmaker[AsyncSession] = create_session_factory(engine)
        self.models = LiveModels(self.sessions, secret=DEV_SECRET)
        self.topic = topic
        self.cache = LeadCache(10_000)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, inbox=tables.inbox, outbox=tables.outbox)

    async def apply(self, envelopes: Sequence[Envelope], batch: int = 100) -> None:
        """In batches, each its own transaction, leads kept between them (`self.cache`) as
        the service keeps them."""
        await self.models.refresh()
        for start in range(0, len(envelopes), batch):
            await handlers.apply_and_commit(
                self.uow(),
                envelopes[start : start + batch],
                self.models,
                topic=self.topic,
                secret=SECRET,
                cache=self.cache,
            )

    async def outbox(self) -> list[Envelope]:
        """Lead events waiting in the outbox, in the order they were written."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(tables.outbox.c.value).order_by(tables.outbox.c.id))
            return [decode(r.value) for r in rows]

    async def lead(self, lead_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(tables.leads).where(tables.leads.c.id == lead_id))
            ).one()
            return dict(row._mapping)

    async def lead_by(self, workspace_id: str, kind: str, value: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            lead_id = await conn.scalar(
                select(tables.identities.c.lead_id).where(
                    tables.identities.c.workspace_id == workspace_id,
                    tables.identities.c.kind == kind,
                    tables.identities.c.value == value,
                )
            )
        assert lead_id, f"no lead with {kind} {value}"
        return await self.lead(lead_id)

    async def stages(self, lead_id: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(tables.lead_stages)
                .where(tables.lead_stages.c.lead_id == lead_id)
                .order_by(tables.lead_stages.c.id)
            )
            return [dict(r._mapping) for r in rows]


async def consume_all(
    bootstrap: str,
    topics: Topics,
    engine: AsyncEngine,
    *,
    batch_size: int,
    expected: int,
    within: float = 120,
) -> None:
    """Run the scoring handler on the topic from its beginning until every event is in."""

    async def done() -> bool:
        async with engine.connect() as conn:
            n = await conn.scalar(select(func.count()).select_from(tables.inbox))
        return n == expected

    async with scoring_consumer(bootstrap, topics, engine, batch_size=batch_size):
        await wait_for(done, within=within, what=f"{expected} events applied")


async def state(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        leads = {
            r.id: {k: v for k, v in r._mapping.items() if k not in ("created_at", "updated_at")}
            for r in await conn.execute(select(tables.leads))
        }
        stages = sorted(
            (r.lead_id, r.stage, r.from_stage, r.entered_at, r.reason, r.event_id, r.score)
            for r in await conn.execute(select(tables.lead_stages))
        )
        identities = sorted(tuple(r) for r in await conn.execute(select(tables.identities)))
        events = [decode(r.value) for r in await conn.execute(select(tables.outbox.c.value))]
    return {"leads": leads, "stages": stages, "identities": identities, "events": events}
