"""Benchmarks of the shared library on the real Kafka and PostgreSQL: codec, publishing,
consuming with exactly-once effects, and the outbox relay."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from statistics import median

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import BigInteger, Column, MetaData, String, Table, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.harness import Figure, rate
from shared.bus import (
    ConsumerRunner,
    DeadLetterSink,
    KafkaPublisher,
    create_consumer,
    create_producer,
    ensure_topics,
    per_message,
    publish,
)
from shared.db import OutboxRelay, UnitOfWork, create_session_factory, inbox_table, outbox_table
from shared.events import Envelope, Topics, decode, encode


def events(n: int) -> list[Envelope]:
    now = datetime.now(UTC)
    return [
        Envelope(
            type="track",
            workspace_id="bench",
            lead_key=f"lead-{i % 1000}",
            occurred_at=now,
            payload={
                "message_id": f"m{i}",
                "event": "Viewed Pricing",
                "properties": {"amount": 1, "path": "/pricing", "plan": "pro"},
                "context": {"ip": "127.0.0.1", "userAgent": "Mozilla/5.0 bench"},
            },
        )
        for i in range(n)
    ]


async def bare_send(bare: AIOKafkaProducer, topic: str, batch: list[Envelope]) -> None:
    """The baseline: a plain aiokafka producer sending the same bytes, all awaited at the end."""
    futures = [await bare.send(topic, encode(e), e.key.encode()) for e in batch]
    await asyncio.gather(*futures)


async def codec(n: int, repeats: int) -> Figure:
    batch = events(n)

    async def leadflow() -> None:
        for e in batch:
            decode(encode(e))

    async def stdlib() -> None:
        for e in batch:
            Envelope.model_validate(json.loads(json.dumps(e.model_dump(mode="json"))))

    return Figure(
        "codec encode+decode",
        "events/s",
        await rate(n, leadflow, repeats),
        "stdlib json + pydantic",
        await rate(n, stdlib, repeats),
        repeats,
    )


async def publishing(bootstrap: str, topics: Topics, n: int, repeats: int) -> Figure:
    batch = events(n)
    ours = create_producer(bootstrap, client_id="bench")
    bare = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await asyncio.gather(ours.start(), bare.start())
    try:
        publisher = KafkaPublisher(ours)

        async def leadflow() -> None:
            await publish(publisher, topics.touchpoints, batch)

        async def baseline() -> None:
            await bare_send(bare, topics.email_events, batch)

        return Figure(
            "publish (acks=all, idempotent)",
            "events/s",
            await rate(n, leadflow, repeats),
            "bare aiokafka producer",
            await rate(n, baseline, repeats),
            repeats,
        )
    finally:
        await asyncio.gather(ours.stop(), bare.stop())


async def create_bench_schema(engine: AsyncEngine) -> tuple[str, Table, Table, Table]:
    """A fresh schema with an inbox, an outbox and a totals table (see drop_bench_schema)."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    metadata = MetaData(schema=name)
    totals = Table(
        "totals",
        metadata,
        Column("lead_key", String, primary_key=True),
        Column("total", BigInteger),
    )
    inbox, outbox = inbox_table(metadata), outbox_table(metadata)
    async with engine.begin() as conn:
        await conn.execute(text(f'create schema "{name}"'))
        await conn.run_sync(metadata.create_all)
    return name, inbox, outbox, totals


async def drop_bench_schema(engine: AsyncEngine, name: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f'drop schema "{name}" cascade'))


async def consuming(
    bootstrap: str, engine: AsyncEngine, n: int, repeats: int, *, batch: bool
) -> Figure:
    """ConsumerRunner applying events with inbox claim + upsert: one transaction per event,
    or (batch) one per partition batch."""
    schema, inbox, outbox, totals = await create_bench_schema(engine)
    sessions = create_session_factory(engine)

    add = insert(totals)
    add = add.on_conflict_do_update(
        index_elements=[totals.c.lead_key], set_={"total": totals.c.total + add.excluded.total}
    )

    async def apply(envelopes: Sequence[Envelope]) -> None:
        async with UnitOfWork(sessions, inbox=inbox, outbox=outbox) as uow:
            todo = await uow.claim_batch(envelopes)
            if todo:
                await uow.session.execute(add, [{"lead_key": e.lead_key, "total": 1} for e in todo])

    async def one(envelope: Envelope) -> None:
        await apply([envelope])

    handler = apply if batch else per_message(one)

    async def count() -> int:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(inbox)) or 0)

    producer = create_producer(bootstrap, client_id="bench")
    await producer.start()
    publisher = KafkaPublisher(producer)
    ours_rates, bare_rates = [], []
    try:
        for _ in range(repeats):
            topics = Topics(f"bench{uuid.uuid4().hex[:8]}")
            await ensure_topics(bootstrap, topics, partitions=6, replication_factor=1)
            await publish(publisher, topics.touchpoints, events(n))
            group = f"bench-{uuid.uuid4().hex[:8]}"
            done_before = await count()
            runner = ConsumerRunner(
                create_consumer(bootstrap, group_id=group, client_id="bench"),
                topics=[topics.touchpoints],
                group=group,
                handler=handler,
                deadletters=DeadLetterSink(publisher, topics.deadletter),
                service="bench",
            )

            async def run_ours(r: ConsumerRunner = runner, target: int = done_before + n) -> None:
                task = asyncio.create_task(r.run())
                while await count() < target:  # noqa: ASYNC110 - polling the database, not a flag
                    await asyncio.sleep(0.05)
                r.stop()
                await task

            ours_rates.append(await rate(n, run_ours, 1))

            async def run_bare(topic: str = topics.touchpoints) -> None:
                consumer = AIOKafkaConsumer(
                    topic,
                    bootstrap_servers=bootstrap,
                    group_id=f"bare-{uuid.uuid4().hex[:8]}",
                    auto_offset_reset="earliest",
                )
                await consumer.start()
                seen = 0
                while seen < n:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        seen += len(records)
                await consumer.stop()

            bare_rates.append(await rate(n, run_bare, 1))
    finally:
        await producer.stop()
        await drop_bench_schema(engine, schema)
    return Figure(
        f"consume + apply once ({'1 tx/batch' if batch else '1 tx/event'})",
        "events/s",
        median(ours_rates),
        "bare aiokafka consumer, no db",
        median(bare_rates),
        repeats,
    )


async def relaying(
    bootstrap: str, engine: AsyncEngine, topics: Topics, n: int, repeats: int
) -> Figure:
    schema, inbox, outbox, _ = await create_bench_schema(engine)
    sessions = create_session_factory(engine)
    batch = events(n)
    producer = create_producer(bootstrap, client_id="bench")
    bare = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await asyncio.gather(producer.start(), bare.start())
    relay = OutboxRelay(engine, outbox, KafkaPublisher(producer), batch_size=500)
    try:

        async def fill() -> None:
            for start in range(0, n, 100):
                async with UnitOfWork(sessions, inbox=inbox, outbox=outbox) as uow:
                    await uow.emit(topics.lead_events, *batch[start : start + 100])

        rates = []
        for _ in range(repeats):
            await fill()
            loop = asyncio.get_running_loop()
            start = loop.time()
            while await relay.drain():
                pass
            rates.append(n / (loop.time() - start))

        async def baseline() -> None:
            await bare_send(bare, topics.email_events, batch)

        return Figure(
            "outbox relay to Kafka",
            "rows/s",
            median(rates),
            "bare aiokafka producer",
            await rate(n, baseline, repeats),
            repeats,
        )
    finally:
        await asyncio.gather(producer.stop(), bare.stop())
        await drop_bench_schema(engine, schema)
