"""Fakes for unit tests: same interfaces as the real Kafka adapters, no servers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, RecordMetadata


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
