"""A consumer killed after its database commit and before its offset commit loses nothing
and applies nothing twice; SIGTERM shuts it down cleanly with offsets committed."""

from __future__ import annotations

import signal
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.bus import KafkaPublisher, create_producer, publish
from shared.events import Topics
from tests.integration.support import (
    TestSchema,
    committed_offsets,
    expected_totals,
    spawn,
    terminate,
    track,
    wait_exit,
    wait_for,
)

CONSUMER = "tests.integration.procs.consumer"


@pytest.mark.parametrize("mode", ["per-message", "batch"])
async def test_sigkill_between_database_commit_and_offset_commit(
    mode: str, bootstrap: str, engine: AsyncEngine, topics: Topics, schema: TestSchema
) -> None:
    events = [track(f"lead-{i % 13}", amount=i + 1, seq=i) for i in range(600)]
    producer = create_producer(bootstrap, client_id="test")
    await producer.start()
    await publish(KafkaPublisher(producer), topics.touchpoints, events)
    await producer.stop()
    group = f"g-{uuid.uuid4().hex[:8]}"
    args = [
        "--schema",
        schema.name,
        "--prefix",
        topics.prefix,
        "--group",
        group,
        "--batch-size",
        "100",
        *(["--batch"] if mode == "batch" else []),
    ]

    crashed_at = [150, 370]
    for n in crashed_at:
        already = await schema.count(engine, schema.inbox)
        proc = spawn(CONSUMER, *args, "--crash-after", str(n - already))
        assert await wait_exit(proc, within=90) == -signal.SIGKILL
        applied = await schema.count(engine, schema.inbox)
        committed = sum((await committed_offsets(bootstrap, group)).values())
        # One transaction per event stops exactly at n; a batch's transaction may pass it.
        assert applied == n if mode == "per-message" else applied >= n
        # The crash window really was hit: work is in the database that Kafka does not know of.
        assert committed < applied

    proc = spawn(CONSUMER, *args)
    try:
        await wait_for(
            lambda: _all_applied(engine, schema, 600), within=90, what="all events applied"
        )
        await wait_for(
            lambda: _committed(bootstrap, group, 600), within=30, what="offsets committed"
        )
    finally:
        exit_code = await terminate(proc)
    assert exit_code == 0  # SIGTERM: finished, committed, closed

    assert await schema.count(engine, schema.inbox) == 600
    assert await schema.totals_by_lead(engine) == expected_totals(events)


async def _all_applied(engine: AsyncEngine, schema: TestSchema, n: int) -> bool:
    return await schema.count(engine, schema.inbox) >= n


async def _committed(bootstrap: str, group: str, n: int) -> bool:
    return sum((await committed_offsets(bootstrap, group)).values()) == n
