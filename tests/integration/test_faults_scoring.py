"""Faults under the real scoring service (issue 8, items 1 and 3).

The service runs as a process of its own (tests/integration/procs/scoring.py) on a fresh
database, fed a stream of simulated touchpoints. It is SIGKILLed at random points and right
between a database commit and its offset commit, or it sees PostgreSQL restart under it.
The oracle is the stream Kafka acknowledged; its state is a clean run of the same scoring
path over the same topic into a second fresh database. Afterwards the two must agree on
every lead, score, stage entry and identity, and every lead event must have been published
once (by id; the relay may repeat a row, consumers drop repeats by id).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.domain.envelopes import envelopes_of
from services.scoring.store import tables
from shared.bus import KafkaPublisher, create_producer, publish
from shared.events import Envelope, Topics, decode
from shared.net import free_port
from tests.integration.fault_support import (
    Size,
    committed,
    figures,
    fresh_database,
    require_local_servers,
    server,
    sizes,
)
from tests.integration.scoring_support import consume_all, state
from tests.integration.support import (
    ROOT,
    read_events,
    read_topic,
    terminate,
    wait_exit,
    wait_for,
)
from tools.simulation.simulate import simulate

SCORING = "tests.integration.procs.scoring"
EVENTS_PER_PERSON = 14  # fewer than simulate()'s journeys average, so there are enough


def stream(events: int, seed: int) -> list[Envelope]:
    sim = simulate(
        max(1, events // EVENTS_PER_PERSON), seed=seed, end=datetime(2026, 4, 1, tzinfo=UTC)
    )
    envelopes = envelopes_of(sim.messages, f"ws_fault_{seed}")[:events]
    assert len(envelopes) == events, "simulate() made fewer events than asked for"
    return envelopes


async def send(bootstrap: str, topic: str, envelopes: Sequence[Envelope], chunk: int = 500) -> int:
    """Publish in chunks, as traffic arrives; how many Kafka acknowledged (all, or it raises)."""
    producer = create_producer(bootstrap, client_id="fault-test")
    await producer.start()
    try:
        publisher = KafkaPublisher(producer)
        for start in range(0, len(envelopes), chunk):
            await publish(publisher, topic, envelopes[start : start + chunk])
            await asyncio.sleep(0.02)
    finally:
        await producer.stop()
    return len(envelopes)


@dataclass
class ScoringProcess:
    """The scoring service on a database and topic prefix of the test's own."""

    database_url: str
    topics: Topics
    port: int = field(default_factory=free_port)
    log: Path = field(
        default_factory=lambda: Path(tempfile.mkstemp(prefix="scoring-", suffix=".log")[1])
    )

    def spawn(self, *, die_at_commit: int = 0) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "LEADFLOW_TOPIC_PREFIX": self.topics.prefix,
            "KAFKA_CONSUMER_BATCH_SIZE": "500",  # more commits, more windows to die in
        }
        args = ["--port", str(self.port), "--die-at-commit", str(die_at_commit)]
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", SCORING, *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def group(self) -> str:
        return f"{self.topics.prefix}.scoring"

    async def readyz(self) -> int:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                return (await client.get(f"http://127.0.0.1:{self.port}/readyz")).status_code
        except httpx.TransportError:
            return 0


async def applied_ids(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return {str(i) for i in (await conn.scalars(select(tables.inbox.c.message_id))).all()}


async def count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def offsets_against_database(bootstrap: str, run: ScoringProcess, engine: AsyncEngine) -> int:
    """Check that no committed offset is ahead of committed database work (every event below
    a partition's committed offset is in the inbox); return how many events past the
    committed offsets the database already holds (work Kafka will deliver again)."""
    offsets = await committed(bootstrap, run.group)  # read first: it only grows
    applied = await applied_ids(engine)
    ahead = 0
    for record in await read_topic(bootstrap, run.topics.touchpoints):
        event_id = _event_id(record.value)
        from_tp = offsets.get(_tp(record), 0)
        if record.offset < from_tp:
            assert event_id in applied, f"offset committed past unapplied {record}"
        elif event_id in applied:
            ahead += 1
    return ahead


def _event_id(value: bytes) -> str:
    return str(decode(value).id)


def _tp(record: Any) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


async def compare_with_clean_run(
    bootstrap: str,
    topics: Topics,
    killed: AsyncEngine,
    clean: AsyncEngine,
    expected: int,
    within: float,
) -> dict[str, int]:
    """The killed run's state against a clean run over the same topic; the figures."""
    await consume_all(bootstrap, topics, clean, batch_size=2000, expected=expected, within=within)
    mine, oracle = await state(killed), await state(clean)
    differing = [
        lead_id for lead_id, lead in oracle["leads"].items() if mine["leads"].get(lead_id) != lead
    ]
    published = await read_events(bootstrap, topics.lead_events)
    published_ids = {e.id for e in published}
    oracle_ids = {e.id for e in oracle["events"]}
    transitions = Counter(
        (e.payload["lead_id"], e.payload["to_stage"])
        for e in {e.id: e for e in published}.values()
        if e.type == "lead.lifecycle_changed"
    )
    assert differing == [], f"{len(differing)} leads differ from the clean run"
    assert set(mine["leads"]) == set(oracle["leads"])
    assert mine["stages"] == oracle["stages"]
    assert mine["identities"] == oracle["identities"]
    assert published_ids == oracle_ids, (
        f"{len(oracle_ids - published_ids)} lead events missing, "
        f"{len(published_ids - oracle_ids)} extra"
    )
    assert transitions, "the stream moved no lead: nothing to compare"
    assert max(transitions.values()) == 1, "a lead entered a stage twice"
    assert sum(transitions.values()) == len(oracle["stages"])
    return {
        "leads": len(oracle["leads"]),
        "leads_differing": len(differing),
        "transitions": sum(transitions.values()),
        "transitions_doubled": sum(n - 1 for n in transitions.values()),
        "lead_events_published": len(published),
        "lead_events_republished": len(published) - len(published_ids),
    }


async def run_to_the_end(
    run: ScoringProcess, proc: subprocess.Popen[bytes], engine: AsyncEngine, expected: set[str]
) -> None:
    """Wait until every event is applied and every lead event relayed; stop the service."""

    async def all_applied() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"scoring exited:\n{run.log.read_text()[-3000:]}")
        return await applied_ids(engine) >= expected

    try:
        await wait_for(all_applied, within=600, what="every event applied")
        await wait_for(
            lambda: _outbox_empty(engine), within=120, what="the outbox relayed to Kafka"
        )
    finally:
        await terminate(proc, within=60)


async def _outbox_empty(engine: AsyncEngine) -> bool:
    return await count(engine, tables.outbox) == 0


@pytest.mark.parametrize(
    "size", sizes(Size("quick", events=5_000, kills=3), Size("soak", events=50_000, kills=10))
)
async def test_scoring_killed_at_random_points_loses_nothing_and_applies_nothing_twice(
    size: Size, bootstrap: str, database_url: str, topics: Topics
) -> None:
    envelopes = stream(size.events, seed=size.kills)
    expected = {str(e.id) for e in envelopes}
    parts = [envelopes[i :: size.kills + 1] for i in range(size.kills + 1)]
    rng = random.Random(size.events)
    kills: list[str] = []
    ahead_after_kill: list[int] = []
    async with (
        fresh_database(database_url, "scoring") as (url, engine),
        fresh_database(database_url, "scoring") as (_, clean),
    ):
        run = ScoringProcess(url, topics)
        sent = 0
        try:
            for k in range(size.kills):
                # The stream goes on while the service dies and comes back.
                feeding = asyncio.create_task(send(bootstrap, topics.touchpoints, parts[k]))
                before = len(await applied_ids(engine))
                at_commit = k % 2 == 1  # every other kill: between database and offset commit
                proc = run.spawn(die_at_commit=rng.randint(1, 2) if at_commit else 0)

                async def progressed(b: int = before, p: Any = proc) -> bool:
                    if p.poll() is not None:
                        return True  # died at its commit already
                    return len(await applied_ids(engine)) > b

                await wait_for(progressed, within=180, what="the service to apply events")
                if not at_commit:
                    await asyncio.sleep(rng.uniform(0, 1.5))
                    proc.send_signal(signal.SIGKILL)
                assert await wait_exit(proc, within=180) == -signal.SIGKILL
                kills.append("at-offset-commit" if at_commit else "random")
                sent += await feeding
                ahead_after_kill.append(await offsets_against_database(bootstrap, run, engine))
            sent += await send(bootstrap, topics.touchpoints, parts[-1])
            await run_to_the_end(run, run.spawn(), engine, expected)
        finally:
            run.log.unlink(missing_ok=True)
        applied = await applied_ids(engine)
        result = await compare_with_clean_run(
            bootstrap, topics, engine, clean, len(expected), within=600
        )

    assert sent == len(envelopes)
    assert applied == expected
    # Each kill at the offset commit really left database work that Kafka did not know of.
    assert all(n > 0 for n in ahead_after_kill[1::2])
    figures(
        f"scoring-kills[{size.name}]",
        events_sent=sent,
        events_applied=len(applied),
        lost=len(expected - applied),
        kills=len(kills),
        kills_at_offset_commit=kills.count("at-offset-commit"),
        redelivered_after_kills=sum(ahead_after_kill),
        **result,
    )


@pytest.mark.parametrize(
    "size",
    sizes(
        Size("quick", events=5_000, kills=3, outage_seconds=3),
        Size("soak", events=50_000, kills=3, outage_seconds=15),
    ),
)
@pytest.mark.local_servers
async def test_postgres_restarted_under_scoring_loses_and_doubles_nothing(
    size: Size, bootstrap: str, database_url: str, topics: Topics
) -> None:
    require_local_servers()
    envelopes = stream(size.events, seed=100 + size.kills)
    expected = {str(e.id) for e in envelopes}
    parts = [envelopes[i :: size.kills + 1] for i in range(size.kills + 1)]
    readiness: list[tuple[int, int]] = []
    ahead: list[int] = []
    async with (
        fresh_database(database_url, "scoring") as (url, engine),
        fresh_database(database_url, "scoring") as (_, clean),
    ):
        run = ScoringProcess(url, topics)
        proc = run.spawn()
        sent = 0
        try:
            await wait_for(lambda: _status_is(run, 200), within=120, what="scoring to be ready")
            for k in range(size.kills):
                sent += await send(bootstrap, topics.touchpoints, parts[k])
                before = len(await applied_ids(engine))
                await wait_for(
                    lambda b=before: _more_than(engine, b), within=120, what="events applied"
                )
                await server("postgres", "stop")
                # Down: the service says so, and keeps its offsets where its work is.
                await wait_for(lambda: _status_is(run, 503), within=60, what="/readyz 503")
                down = await run.readyz()
                await asyncio.sleep(size.outage_seconds)
                await server("postgres", "start")
                await engine.dispose()
                await wait_for(lambda: _status_is(run, 200), within=60, what="/readyz 200")
                readiness.append((down, await run.readyz()))
                ahead.append(await offsets_against_database(bootstrap, run, engine))
            sent += await send(bootstrap, topics.touchpoints, parts[-1])
            await run_to_the_end(run, proc, engine, expected)
        finally:
            if proc.poll() is None:
                proc.kill()
            run.log.unlink(missing_ok=True)
        applied = await applied_ids(engine)
        result = await compare_with_clean_run(
            bootstrap, topics, engine, clean, len(expected), within=600
        )

    assert applied == expected
    assert readiness == [(503, 200)] * size.kills
    figures(
        f"postgres-restarts[{size.name}]",
        events_sent=sent,
        events_applied=len(applied),
        lost=len(expected - applied),
        restarts=len(readiness),
        outage_seconds=size.outage_seconds,
        readyz_down_then_up=readiness,
        applied_ahead_of_offsets=ahead,
        **result,
    )


async def _status_is(run: ScoringProcess, status: int) -> bool:
    return await run.readyz() == status


async def _more_than(engine: AsyncEngine, n: int) -> bool:
    return len(await applied_ids(engine)) > n
