"""A small real application for the integration tests: sums amounts per lead, exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.bus import BatchHandler, per_message, topic_partitions
from shared.db import UnitOfWork, inbox_table, outbox_table
from shared.events import Envelope, decode

ROOT = Path(__file__).resolve().parents[2]


class TestSchema:
    __test__ = False  # not a pytest test class

    def __init__(self, name: str) -> None:
        self.name = name
        self.metadata = MetaData(schema=name)
        self.inbox = inbox_table(self.metadata)
        self.outbox = outbox_table(self.metadata)
        self.totals = Table(
            "totals",
            self.metadata,
            Column("lead_key", String, primary_key=True),
            Column("total", BigInteger, nullable=False),
            Column("applied", Integer, nullable=False),
        )

    def uow(self, sessions: async_sessionmaker[AsyncSession]) -> UnitOfWork:
        return UnitOfWork(sessions, inbox=self.inbox, outbox=self.outbox)

    def handler(
        self,
        sessions: async_sessionmaker[AsyncSession],
        after_commit: Callable[[int], None] | None = None,
        *,
        batch: bool = False,
    ) -> BatchHandler:
        """Adds each event's amount to its lead's total: applying an event twice would show.

        batch=True applies a whole batch in one transaction, else one transaction per event.
        `after_commit(n)` is told how many events each commit applied.
        """

        async def apply(envelopes: Sequence[Envelope]) -> None:
            async with self.uow(sessions) as uow:
                todo = await uow.claim_batch(envelopes)
                if todo:
                    await uow.session.execute(self._add, [_amount(e) for e in todo])
            if after_commit is not None:
                after_commit(len(todo))

        if batch:
            return apply

        async def one(envelope: Envelope) -> None:
            await apply([envelope])

        return per_message(one)

    @property
    def _add(self) -> Any:
        stmt = insert(self.totals)
        return stmt.on_conflict_do_update(
            index_elements=[self.totals.c.lead_key],
            set_={
                "total": self.totals.c.total + stmt.excluded.total,
                "applied": self.totals.c.applied + 1,
            },
        )

    async def totals_by_lead(self, engine: AsyncEngine) -> dict[str, tuple[int, int]]:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(self.totals))).all()
        return {r.lead_key: (r.total, r.applied) for r in rows}

    async def count(self, engine: AsyncEngine, table: Table) -> int:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


def _amount(envelope: Envelope) -> dict[str, Any]:
    return {
        "lead_key": envelope.lead_key,
        "total": int(envelope.payload["properties"]["amount"]),
        "applied": 1,
    }


def track(lead_key: str, *, amount: int = 0, seq: int = 0, workspace: str = "ws") -> Envelope:
    return Envelope(
        type="track",
        workspace_id=workspace,
        lead_key=lead_key,
        occurred_at=datetime.now(UTC),
        payload={
            "message_id": f"{lead_key}-{seq}",
            "event": "Paid",
            "properties": {"amount": amount, "seq": seq},
        },
    )


def expected_totals(events: Iterable[Envelope]) -> dict[str, tuple[int, int]]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in {e.id: e for e in events}.values():
        sums[e.lead_key][0] += int(e.payload["properties"]["amount"])
        sums[e.lead_key][1] += 1
    return {k: (v[0], v[1]) for k, v in sums.items()}


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[Any, Any]]:
    """Every record now in the topic, partition by partition, in offset order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, topic)
        assert partitions, f"topic {topic} does not exist"
        end = await consumer.end_offsets(partitions)
        if not any(end.values()):
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord[Any, Any]] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def read_events(bootstrap: str, topic: str) -> list[Envelope]:
    return [decode(r.value) for r in await read_topic(bootstrap, topic)]


async def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    finally:
        await admin.close()


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    """Where each partition of `topic` ends now: the offset its next message will get."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, topic)
        assert partitions, f"topic {topic} does not exist"
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def wait_consumed(bootstrap: str, group: str, topic: str, *, within: float = 60) -> None:
    """Wait until consumer group `group` has committed every message `topic` holds now.

    The sentinel to wait for after publishing something that must have no effect: offsets
    are committed after the database transaction that applied the messages, so once they
    pass the end the topic had, every message in it (the last on each partition included)
    has been applied (or dead-lettered), and "nothing changed" can be asserted. Unlike a
    fixed sleep, a slow machine makes this wait longer instead of the test vacuous."""
    end = {tp: offset for tp, offset in (await end_offsets(bootstrap, topic)).items() if offset}

    async def consumed() -> bool:
        committed = await committed_offsets(bootstrap, group)
        return all(committed.get(tp, 0) >= offset for tp, offset in end.items())

    await wait_for(consumed, within=within, what=f"{group} to consume {topic} up to {end}")


async def wait_for(
    predicate: Callable[[], Any],
    *,
    within: float = 60,
    what: str = "condition",
    every: float = 0.05,
) -> Any:
    """Poll an async or sync predicate every `every` seconds until it is true (and return
    what it gave); fail with `what` after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(every)


def spawn(module: str, *args: str) -> subprocess.Popen[bytes]:
    """Run `python -m module args` from the repo root, with this environment."""
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=dict(os.environ))


async def wait_exit(proc: subprocess.Popen[bytes], within: float = 60) -> int:
    await wait_for(
        lambda: proc.poll() is not None, within=within, what=f"process {proc.args} to exit"
    )
    return proc.returncode


async def terminate(proc: subprocess.Popen[bytes], within: float = 30) -> int:
    """SIGTERM, then wait; a process that does not stop in time is killed (so it cannot
    outlive the test) and the test fails."""
    proc.send_signal(signal.SIGTERM)
    try:
        return await wait_exit(proc, within)
    except AssertionError:
        proc.kill()
        proc.wait()
        raise
