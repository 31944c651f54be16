"""A published event is consumed and applied exactly once, even when delivered again."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.bus import (
    ConsumerRunner,
    DeadLetterSink,
    KafkaPublisher,
    create_consumer,
    create_producer,
    publish,
)
from shared.db import create_session_factory
from shared.events import Topics
from tests.integration.support import (
    TestSchema,
    committed_offsets,
    expected_totals,
    read_topic,
    track,
    wait_for,
)


@pytest.mark.parametrize("batch", [False, True], ids=["per-message", "batch"])
async def test_events_are_applied_once_and_duplicates_have_no_effect(
    batch: bool, bootstrap: str, engine: AsyncEngine, topics: Topics, schema: TestSchema
) -> None:
    events = [track(f"lead-{i % 7}", amount=i, seq=i) for i in range(200)]
    redelivered = events[10:40]  # the same messages (same ids) sent a second time
    group = f"g-{uuid.uuid4().hex[:8]}"
    producer = create_producer(bootstrap, client_id="test")
    await producer.start()
    publisher = KafkaPublisher(producer)
    runner = ConsumerRunner(
        create_consumer(bootstrap, group_id=group, client_id="test"),
        topics=[topics.touchpoints],
        group=group,
        handler=schema.handler(create_session_factory(engine), batch=batch),
        deadletters=DeadLetterSink(publisher, topics.deadletter),
        service="test",
    )
    task = asyncio.create_task(runner.run())
    try:
        # Duplicates inside one batch (sent together) and across batches (sent later).
        await publish(publisher, topics.touchpoints, events + events[50:60])
        await publish(publisher, topics.touchpoints, redelivered)
        await wait_for(lambda: schema.count(engine, schema.inbox), within=60, what="events applied")
        await wait_for(
            lambda: _committed_total(bootstrap, group, 240), within=60, what="offsets committed"
        )
    finally:
        runner.stop()
        await task
        await producer.stop()

    assert await schema.count(engine, schema.inbox) == 200
    assert await schema.totals_by_lead(engine) == expected_totals(events)
    assert await read_topic(bootstrap, topics.deadletter) == []


async def _committed_total(bootstrap: str, group: str, expected: int) -> bool:
    return sum((await committed_offsets(bootstrap, group)).values()) == expected


async def test_bad_messages_go_to_the_dead_letter_topic_and_the_rest_flows(
    bootstrap: str, engine: AsyncEngine, topics: Topics, schema: TestSchema
) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    producer = create_producer(bootstrap, client_id="test")
    await producer.start()
    publisher = KafkaPublisher(producer)
    good = track("lead-1", amount=5)
    await (await publisher.send(topics.touchpoints, b"\xff\xfe not json", b"ws:lead-1"))
    await (
        await publisher.send(
            topics.touchpoints,
            orjson.dumps(
                {**good.model_dump(mode="json"), "id": str(uuid.uuid4()), "type": "teleported"}
            ),
            b"ws:lead-1",
        )
    )
    await publish(publisher, topics.touchpoints, [good])
    runner = ConsumerRunner(
        create_consumer(bootstrap, group_id=group, client_id="test"),
        topics=[topics.touchpoints],
        group=group,
        handler=schema.handler(create_session_factory(engine)),
        deadletters=DeadLetterSink(publisher, topics.deadletter),
        service="test",
    )
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(
            lambda: _count_at_least(bootstrap, topics.deadletter, 2), what="dead letters"
        )
        await wait_for(lambda: schema.count(engine, schema.inbox), what="the good event applied")
    finally:
        runner.stop()
        await task
        await producer.stop()

    letters = [orjson.loads(r.value) for r in await read_topic(bootstrap, topics.deadletter)]
    reasons = sorted(letter["reason"] for letter in letters)
    assert reasons[0].startswith("invalid envelope")
    assert reasons[1] == "unknown event type 'teleported'"
    assert {letter["service"] for letter in letters} == {"test"}
    assert any(letter.get("value_base64") for letter in letters)  # the undecodable bytes are kept
    assert await schema.totals_by_lead(engine) == {"lead-1": (5, 1)}


async def _count_at_least(bootstrap: str, topic: str, n: int) -> bool:
    return len(await read_topic(bootstrap, topic)) >= n
