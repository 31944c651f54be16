"""Outbox rows reach Kafka, in per-key order, even when the relay is killed again and again."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.bus import KafkaPublisher, create_producer
from shared.db import OutboxRelay, create_session_factory
from shared.events import Envelope, Topics
from tests.integration.support import (
    TestSchema,
    read_events,
    spawn,
    terminate,
    track,
    wait_exit,
    wait_for,
)

RELAY = "tests.integration.procs.relay"
KEYS = 10


class WatchedRelay(OutboxRelay):
    """The relay, showing when it goes to sleep: after a drain that found nothing (leading)
    or after a try for the lock that failed (standing by). Tests wait for that instead of
    sleeping a fixed time and hoping it happened."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.naps = 0
        self.napping = asyncio.Event()

    async def _sleep(self, seconds: float) -> None:
        self.naps += 1
        self.napping.set()
        try:
            await super()._sleep(seconds)
        finally:
            self.napping.clear()


async def emit(
    engine: AsyncEngine, schema: TestSchema, topic: str, events: list[Envelope], per_tx: int
) -> None:
    sessions = create_session_factory(engine)
    for start in range(0, len(events), per_tx):
        async with schema.uow(sessions) as uow:
            await uow.emit(topic, *events[start : start + per_tx])


async def test_relay_killed_repeatedly_publishes_everything_in_per_key_order(
    bootstrap: str, engine: AsyncEngine, topics: Topics, schema: TestSchema, tmp_path: Path
) -> None:
    events = [track(f"lead-{i % KEYS}", seq=i // KEYS) for i in range(3000)]
    await emit(engine, schema, topics.lead_events, events, per_tx=25)

    kills_mid_stream = 0
    rng = random.Random(7)
    for _ in range(6):
        proc = spawn(RELAY, "--schema", schema.name, "--batch-size", "40")
        before = await schema.count(engine, schema.outbox)
        await wait_for(
            lambda b=before: _below(engine, schema, b),
            within=60,
            what="the relay to publish something",
        )
        # A kill at a random point of the stream; short, since a quiet machine's relay drains
        # the whole outbox (75 batches) in a few hundred ms and then there is nothing to kill.
        await asyncio.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        await wait_exit(proc)
        if await schema.count(engine, schema.outbox) > 0:
            kills_mid_stream += 1
        else:
            break
    assert kills_mid_stream >= 2, (
        "the relay was too quick to be killed mid-stream; raise the event count"
    )

    ready = tmp_path / "relay-ready"
    proc = spawn(RELAY, "--schema", schema.name, "--ready-file", str(ready))
    try:
        await wait_for(lambda: _below(engine, schema, 1), within=60, what="the outbox to drain")
        # The outbox may have been empty already: a SIGTERM before the relay set up its
        # handler would kill it instead of stopping it.
        await wait_for(ready.exists, within=30, what="the relay to be up")
    finally:
        assert await terminate(proc) == 0

    published = await read_events(bootstrap, topics.lead_events)
    first_seen: dict[object, Envelope] = {}
    for event in published:
        first_seen.setdefault(event.id, event)
    assert set(first_seen) == {e.id for e in events}  # nothing lost
    sequences: dict[str, list[int]] = defaultdict(list)
    for event in first_seen.values():
        sequences[event.lead_key].append(event.payload["properties"]["seq"])
    for key, seqs in sequences.items():
        assert seqs == list(range(len(events) // KEYS)), f"{key} out of order"


async def _below(engine: AsyncEngine, schema: TestSchema, n: int) -> bool:
    return await schema.count(engine, schema.outbox) < n


async def test_relay_wakes_on_commit_without_waiting_for_its_poll(
    bootstrap: str, engine: AsyncEngine, topics: Topics, schema: TestSchema
) -> None:
    producer = create_producer(bootstrap, client_id="test")
    await producer.start()
    relay = WatchedRelay(engine, schema.outbox, KafkaPublisher(producer), poll_seconds=600)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.leading.wait(), 30)
        # Its first (empty) drain done, it sleeps: an event now can only be found by a wake-up.
        await asyncio.wait_for(relay.napping.wait(), 30)
        event = track("lead-x")
        await emit(engine, schema, topics.lead_events, [event], per_tx=1)
        # Far less than the 600 s poll: only the NOTIFY sent at commit can have woken it.
        await wait_for(lambda: _below(engine, schema, 1), within=20, what="the relay to wake up")
    finally:
        relay.stop()
        await task
        await producer.stop()
    assert [e.id for e in await read_events(bootstrap, topics.lead_events)] == [event.id]


async def test_only_one_relay_per_schema_publishes(
    bootstrap: str, engine: AsyncEngine, schema: TestSchema
) -> None:
    producer = create_producer(bootstrap, client_id="test")
    await producer.start()
    first = OutboxRelay(engine, schema.outbox, KafkaPublisher(producer), poll_seconds=0.1)
    second = WatchedRelay(engine, schema.outbox, KafkaPublisher(producer), poll_seconds=0.1)
    tasks = [asyncio.create_task(first.run())]
    try:
        await asyncio.wait_for(first.leading.wait(), 30)
        tasks.append(asyncio.create_task(second.run()))
        # It asked for the lock and stood by, three times over: not once did it lead.
        await wait_for(lambda: second.naps >= 3, within=30, what="the second relay to stand by")
        assert not second.leading.is_set()
        first.stop()
        await tasks[0]
        await asyncio.wait_for(second.leading.wait(), 30)  # takes over when the leader goes
    finally:
        first.stop()
        second.stop()
        await asyncio.gather(*tasks)
        await producer.stop()
