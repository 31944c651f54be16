"""Fakes for unit tests: same interfaces as the real Kafka adapters and unit of work, no
servers. FakeUnitOfWork passes the contract suite the real one passes (tests/uow_contract.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, NoReturn, Self

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, RecordMetadata

from shared.events import Envelope, decode
from shared.events.codec import Record


class FakePublisher:
    """Publisher that acknowledges at once and remembers what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None
    ) -> asyncio.Future[RecordMetadata]:
        self.sent.append((topic, key, value))
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        future.set_result(
            RecordMetadata(topic, 0, TopicPartition(topic, 0), len(self.sent) - 1, -1, 0, -1)
        )
        return future

    async def send_many(self, topic: str, records: Iterable[tuple[bytes, bytes | None]]) -> None:
        for value, key in records:
            await self.send(topic, value, key)

    def on(self, topic: str) -> list[bytes]:
        return [value for t, _, value in self.sent if t == topic]


def record(
    topic: str, offset: int, value: bytes | None, *, partition: int = 0, key: bytes | None = None
) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic, partition, offset, 0, 0, key, value, None, 0, len(value or b""), ()
    )


class FakeConsumer:
    """Hands out queued batches, records commits, can simulate a revocation."""

    def __init__(self, batches: list[dict[TopicPartition, list[ConsumerRecord[Any, Any]]]]) -> None:
        self.batches = list(batches)
        self.commits: list[dict[TopicPartition, int]] = []
        self.listener: ConsumerRebalanceListener | None = None
        self.started = self.stopped = False
        self.revoke_before_batch: dict[int, set[TopicPartition]] = defaultdict(set)
        self._served = 0
        self.drained = asyncio.Event()

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None:
        self.listener = listener

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        revoked = self.revoke_before_batch.get(self._served)
        if revoked and self.listener is not None:
            await self.listener.on_partitions_revoked(revoked)
        if not self.batches:
            self.drained.set()
            await asyncio.sleep(0.01)
            return {}
        self._served += 1
        return self.batches.pop(0)

    async def commit(
        self, offsets: dict[TopicPartition, int | OffsetAndMetadata] | None = None
    ) -> None:
        self.commits.append(
            {tp: int(o) if isinstance(o, int) else o.offset for tp, o in (offsets or {}).items()}
        )

    def committed(self) -> dict[TopicPartition, int]:
        merged: dict[TopicPartition, int] = {}
        for c in self.commits:
            merged.update(c)
        return merged


class FakeUnitOfWork:
    """shared/db/uow.py's UnitOfWork without PostgreSQL, for tests of handler decisions.

    One instance stands for one service's database: reuse it for every message (each
    `async with` is one transaction) and read what was committed: `inbox` (ids applied),
    `records(topic)` / `events(topic)` (the outbox, in order). A transaction's claims and
    events count only once it commits; an exception inside `async with` discards them.

    `session` is not offered: code that runs SQL needs the real unit of work (tests under
    tests/integration); the fake is for the decisions around it, so it says so at once rather
    than pretending to be a database.
    """

    def __init__(self, *, inbox: Iterable[uuid.UUID] = ()) -> None:
        self.inbox: set[uuid.UUID] = set(inbox)
        self.outbox: list[tuple[str, Record]] = []
        self.commits = 0
        self.rollbacks = 0
        self._claimed: set[uuid.UUID] | None = None  # this transaction's claims; None: outside
        self._emitted: list[tuple[str, Record]] = []

    @property
    def session(self) -> NoReturn:
        self._require_transaction()
        raise RuntimeError(
            "FakeUnitOfWork has no database session: code that runs SQL is tested with the "
            "real UnitOfWork (tests/integration); the fake is for handler decisions"
        )

    async def __aenter__(self) -> Self:
        if self._claimed is not None:
            raise RuntimeError("FakeUnitOfWork entered twice: one transaction at a time")
        self._claimed, self._emitted = set(), []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        claimed, emitted = self._claimed or set(), self._emitted
        self._claimed, self._emitted = None, []
        if exc_type is None:
            self.inbox |= claimed
            self.outbox.extend(emitted)
            self.commits += 1
        else:
            self.rollbacks += 1

    async def claim_batch(self, envelopes: Sequence[Envelope]) -> list[Envelope]:
        """As the real one: in order, those never processed before, each id once."""
        if not envelopes:
            return []
        claimed = self._require_transaction()
        todo = []
        for envelope in envelopes:
            if envelope.id not in self.inbox and envelope.id not in claimed:
                claimed.add(envelope.id)
                todo.append(envelope)
        return todo

    async def emit(self, topic: str, *envelopes: Envelope | Record) -> None:
        """Queue events (or already encoded records) for the outbox; kept only on commit."""
        if not envelopes:
            return
        self._require_transaction()
        self._emitted.extend(
            (topic, e if isinstance(e, Record) else Record.of(e)) for e in envelopes
        )

    def records(self, topic: str) -> list[Record]:
        """What committed transactions put in the outbox for `topic`, in order."""
        return [record for t, record in self.outbox if t == topic]

    def events(self, topic: str) -> list[Envelope]:
        """The same, decoded as a consumer would read them from Kafka."""
        return [decode(record.value) for record in self.records(topic)]

    def _require_transaction(self) -> set[uuid.UUID]:
        if self._claimed is None:
            raise RuntimeError("UnitOfWork used outside `async with`")
        return self._claimed
