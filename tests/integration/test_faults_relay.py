"""The outbox relay killed again and again while MQL transitions are committed (issue 8,
item 5): every transition reaches Kafka, and nurture, consuming them, enrolls each lead once.

Transitions are committed to an outbox (as scoring's handler does) in small transactions
while a relay process publishes them and is SIGKILLed at random moments; a final relay
drains what is left. The real nurture enrollment handler consumes the topic into a fresh
database with an active sequence triggered by entering `mql`.
"""

from __future__ import annotations

import asyncio
import random
import signal
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.nurture import handlers as enrollment
from services.nurture.store import tables as models
from shared.bus import (
    ConsumerRunner,
    DeadLetterSink,
    KafkaPublisher,
    create_consumer,
    create_producer,
)
from shared.db import UnitOfWork, create_session_factory
from shared.events import Envelope, Topics
from tests.integration.fault_support import Size, committed, figures, fresh_database, sizes
from tests.integration.support import (
    TestSchema,
    read_events,
    spawn,
    terminate,
    wait_exit,
    wait_for,
)
from tests.integration.test_nurture_enrollment import DEFINITION, Nurture, workspace_with_sequence

RELAY = "tests.integration.procs.relay"
T0 = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)


def became_mql(ws: str, n: int) -> Envelope:
    lead_id = f"ld_{n}"
    return Envelope(
        type="lead.lifecycle_changed",
        workspace_id=ws,
        lead_key=lead_id,
        occurred_at=T0 + timedelta(seconds=n),
        payload={
            "lead_id": lead_id,
            "email": f"lead{n}@acme.example",
            "traits": {"email": f"lead{n}@acme.example"},
            "user_ids": [f"u{n}"],
            "from_stage": "lead",
            "to_stage": "mql",
            "reason": "score 70 reached the MQL threshold",
            "score": 70,
        },
    )


async def commit_transitions(
    engine: AsyncEngine,
    schema: TestSchema,
    topic: str,
    events: list[Envelope],
    emitted: list[int],
    pause: float,
) -> None:
    """A few transitions per transaction, as scoring's batches commit them, spread over
    the kills; `emitted[0]` counts them."""
    sessions = create_session_factory(engine)
    for start in range(0, len(events), 5):
        async with schema.uow(sessions) as uow:
            await uow.emit(topic, *events[start : start + 5])
        emitted[0] += len(events[start : start + 5])
        await asyncio.sleep(pause)


@pytest.mark.parametrize(
    "size",
    sizes(Size("quick", events=1_000, kills=5), Size("soak", events=1_000, kills=20)),
)
async def test_relay_killed_during_mql_transitions_publishes_all_and_enrolls_each_once(
    size: Size,
    bootstrap: str,
    database_url: str,
    engine: AsyncEngine,
    topics: Topics,
    schema: TestSchema,
    tmp_path: Path,
) -> None:
    async with fresh_database(database_url, "nurture") as (_, nurture_engine):
        nurture = Nurture(nurture_engine, topics.email_events)
        ws, seq_id = await workspace_with_sequence(nurture, DEFINITION)
        transitions = [became_mql(ws, n) for n in range(size.events)]
        emitted = [0]
        # About three seconds of transitions per kill (a relay takes a second or two to start).
        pause = 3 * size.kills / (size.events / 5)
        committing = asyncio.create_task(
            commit_transitions(engine, schema, topics.lead_events, transitions, emitted, pause)
        )

        async def published() -> int:
            return emitted[0] - await schema.count(engine, schema.outbox)

        rng = random.Random(size.kills)
        kills = killed_mid_stream = 0
        try:
            while kills < size.kills:
                proc = spawn(RELAY, "--schema", schema.name, "--batch-size", "20")
                before = await published()
                await wait_for(
                    lambda b=before: _more(published, b), within=60, what="the relay to publish"
                )
                await asyncio.sleep(rng.uniform(0, 0.3))
                proc.send_signal(signal.SIGKILL)
                assert await wait_exit(proc) == -signal.SIGKILL
                kills += 1
                killed_mid_stream += await schema.count(engine, schema.outbox) > 0
            await committing
        finally:
            committing.cancel()
        left_after_kills = await schema.count(engine, schema.outbox)
        ready = tmp_path / "relay-ready"
        proc = spawn(RELAY, "--schema", schema.name, "--ready-file", str(ready))
        try:
            await wait_for(lambda: _drained(engine, schema), within=120, what="the outbox drained")
            await wait_for(ready.exists, within=30, what="the relay to be up")
        finally:
            assert await terminate(proc) == 0

        published = await read_events(bootstrap, topics.lead_events)
        enrolled = await _enroll_from_topic(bootstrap, topics, nurture_engine, len(published))
        async with nurture_engine.connect() as conn:
            leads = Counter(
                (
                    await conn.scalars(
                        select(models.enrollments.c.lead_id).where(
                            models.enrollments.c.sequence_id == seq_id
                        )
                    )
                ).all()
            )

    published_ids = {e.id for e in published}
    sent_ids = {e.id for e in transitions}
    figures(
        f"relay-kills[{size.name}]",
        transitions=len(transitions),
        kills=kills,
        kills_with_rows_waiting=killed_mid_stream,
        outbox_left_after_kills=left_after_kills,
        published=len(published),
        published_again=len(published) - len(published_ids),
        lost=len(sent_ids - published_ids),
        enrollments=enrolled,
        leads_enrolled_twice=sum(1 for n in leads.values() if n > 1),
    )
    assert published_ids == sent_ids
    assert len(leads) == size.events
    assert max(leads.values()) == 1
    assert kills == size.kills


async def _more(count: Callable[[], Awaitable[int]], than: int) -> bool:
    return await count() > than


async def _drained(engine: AsyncEngine, schema: TestSchema) -> bool:
    return await schema.count(engine, schema.outbox) == 0


async def _enroll_from_topic(
    bootstrap: str, topics: Topics, engine: AsyncEngine, records: int
) -> int:
    """The real enrollment handler over the whole lead-events topic (all `records` of it,
    repeats included); how many enrollments it made."""
    sessions = create_session_factory(engine)

    async def handle(envelopes: Sequence[Envelope]) -> None:
        async with UnitOfWork(sessions, inbox=models.inbox, outbox=models.outbox) as uow:
            await enrollment.apply_events(uow, envelopes, topic=topics.email_events)

    async def consumed() -> bool:
        return sum((await committed(bootstrap, group)).values()) >= records

    producer = create_producer(bootstrap, client_id="test")
    await producer.start()
    group = f"nurture-{uuid.uuid4().hex[:6]}"
    runner = ConsumerRunner(
        create_consumer(bootstrap, group_id=group, client_id="test"),
        topics=[topics.lead_events],
        group=group,
        handler=handle,
        deadletters=DeadLetterSink(KafkaPublisher(producer), topics.deadletter),
        service="nurture",
    )
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(consumed, within=120, what=f"{records} lead events consumed")
    finally:
        runner.stop()
        await task
        await producer.stop()
    async with engine.connect() as conn:
        return len((await conn.scalars(select(models.enrollments.c.id))).all())
