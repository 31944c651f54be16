"""Kafka producer factory and the publisher the services use."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from shared.events import Envelope, encode, encode_key

log = logging.getLogger(__name__)


class CachedPartitioner:
    """aiokafka's default partitioner (murmur2, as the Java client) with its result cached:
    its pure-Python murmur2 was a tenth of ingest's CPU, and a lead's key recurs."""

    def __init__(self, size: int = 65536) -> None:
        self._default = DefaultPartitioner()
        self._partition_of = lru_cache(maxsize=size)(self._hash)

    def _hash(self, key: bytes, partitions: tuple[int, ...]) -> int:
        return int(self._default(key, list(partitions), list(partitions)))

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(self._default(key, all_partitions, available))
        return self._partition_of(key, tuple(all_partitions))


def create_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    """Idempotent, acks=all, batched and compressed: callers await a batch of futures,
    never a send-and-wait per message. zstd (level 3, as the broker's default): aiokafka's lz4
    is LZ4-HC level 9, about a tenth of ingest's CPU on /v1/batch; zstd compresses the same
    batches four times faster and a third smaller (Kafka >= 2.1 reads it)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        compression_type="zstd",
        request_timeout_ms=15_000,
        partitioner=CachedPartitioner(),
    )


class Publisher(Protocol):
    """What handlers and relays need of a bus; fakes implement the same."""

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None
    ) -> asyncio.Future[RecordMetadata]: ...

    async def send_many(
        self, topic: str, records: Iterable[tuple[bytes, bytes | None]]
    ) -> None: ...


MAX_WAITING_BATCHES = 2  # per partition, besides the one in flight: 2 x max_batch_size at most


class _Batch:
    """Records for one partition waiting for their turn, and one future for all of them."""

    __slots__ = ("acked", "builder")

    def __init__(self, builder: BatchBuilder) -> None:
        self.builder = builder
        self.acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class _Partition:
    __slots__ = ("room", "sending", "waiting")

    def __init__(self) -> None:
        self.waiting: list[_Batch] = []  # oldest first; the last one takes new records
        self.sending = False
        self.room: asyncio.Future[None] | None = None  # for callers waiting for a free slot

    def make_room(self) -> None:
        if self.room is not None and not self.room.done():
            self.room.set_result(None)
        self.room = None


class KafkaPublisher:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        partitioner: CachedPartitioner | None = None,
        *,
        renew: Callable[[], AIOKafkaProducer] | None = None,
    ):
        """`renew` makes a new (not started) producer to replace this one if it breaks."""
        self.producer = producer
        # The same murmur2 as the producer's own: a key lands in the same partition either way.
        self._partitioner = partitioner or CachedPartitioner()
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._senders: set[asyncio.Task[None]] = set()
        self._renew = renew
        self._renewing = asyncio.Lock()
        self.renewals = 0

    def broken(self) -> bool:
        """Has the producer's sender stopped for good? aiokafka's idempotent producer ends it
        on a fatal error, e.g. OutOfOrderSequenceNumber after the broker came back from an
        outage (aio-libs/aiokafka#1017), and every later send then fails: the only remedy
        is a new producer (a new producer id)."""
        sender = getattr(self.producer, "_sender", None)  # no public API tells
        task = getattr(sender, "sender_task", None)
        return task is not None and task.done()

    async def _healthy(self) -> None:
        """Replace a broken producer (when this publisher knows how to make one)."""
        if self._renew is None or not self.broken():
            return
        async with self._renewing:
            if not self.broken():
                return  # another caller renewed it meanwhile
            log.warning("the Kafka producer failed for good; starting a new one")
            fresh = self._renew()
            await fresh.start()
            old, self.producer = self.producer, fresh
            self.renewals += 1
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await old.stop()

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None
    ) -> asyncio.Future[RecordMetadata]:
        """Queue one record; the returned future resolves when Kafka acknowledged it."""
        await self._healthy()
        future: asyncio.Future[RecordMetadata] = await self.producer.send(
            topic, value=value, key=key
        )
        return future

    async def send_many(self, topic: str, records: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Publish (value, key) records; returns once Kafka acknowledged every one of them.

        Concurrent callers' records share one batch per partition, with one future per batch
        instead of one per record: aiokafka's `send` and its per-record futures cost about as
        much CPU as all the rest ingest does with an event. The idempotent producer has one
        batch in flight per partition; what arrives meanwhile waits in the next batch, which is
        closed and handed to aiokafka as soon as the one before is acknowledged. Records of
        one caller keep their order within a partition.
        """
        await self._healthy()
        partitions = sorted(await self.producer.partitions_for(topic))
        waiting: set[asyncio.Future[None]] = set()
        for value, key in records:
            if key is None:
                cluster = self.producer.client.cluster
                available = sorted(cluster.available_partitions_for_topic(topic) or partitions)
                partition = self._partitioner(None, partitions, available)
            else:
                partition = self._partitioner(key, partitions, partitions)
            acked = self._append(topic, partition, key, value)
            while acked is None:  # the partition's waiting batches are full (Kafka is slow)
                await self._room(topic, partition)
                acked = self._append(topic, partition, key, value)
            waiting.add(acked)
        if waiting:
            await asyncio.wait(waiting)  # cancelling this caller never cancels shared futures
            for acked in waiting:
                acked.result()  # the first failure, if any

    def _state(self, topic: str, partition: int) -> _Partition:
        state = self._partitions.get((topic, partition))
        if state is None:
            state = self._partitions[(topic, partition)] = _Partition()
        return state

    async def _room(self, topic: str, partition: int) -> None:
        state = self._state(topic, partition)
        if state.room is None:
            state.room = asyncio.get_running_loop().create_future()
        await asyncio.shield(state.room)

    def _append(
        self, topic: str, partition: int, key: bytes | None, value: bytes
    ) -> asyncio.Future[None] | None:
        """The future of the batch that took the record; None when there is no room (as
        aiokafka's accumulator, memory stays bounded while Kafka does not answer)."""
        state = self._state(topic, partition)
        batch = state.waiting[-1] if state.waiting else None
        if batch is None or batch.builder.append(timestamp=None, key=key, value=value) is None:
            if len(state.waiting) >= MAX_WAITING_BATCHES:
                return None
            batch = _Batch(self.producer.create_batch())
            # A new batch takes its first record whatever its size (aiokafka's rule).
            if batch.builder.append(timestamp=None, key=key, value=value) is None:
                raise ValueError("record refused by an empty batch")
            state.waiting.append(batch)
        if not state.sending:
            state.sending = True
            task = asyncio.create_task(self._send_waiting(topic, partition, state))
            self._senders.add(task)
            task.add_done_callback(self._senders.discard)
        return batch.acked

    async def _send_waiting(self, topic: str, partition: int, state: _Partition) -> None:
        """One partition's batches, one after the other, each once the previous is acknowledged."""
        try:
            while state.waiting:
                batch = state.waiting.pop(0)
                state.make_room()
                batch.builder.close()  # no more records: a closed batch is sent without linger
                try:
                    acked = await self.producer.send_batch(
                        batch.builder, topic, partition=partition
                    )
                    await acked
                except Exception as exc:
                    batch.acked.set_exception(exc)
                    batch.acked.exception()  # callers may have timed out: no "never retrieved"
                else:
                    batch.acked.set_result(None)
        finally:
            state.sending = False
            state.make_room()


async def send_all(
    publisher: Publisher, topic: str, records: Sequence[tuple[bytes, bytes | None]]
) -> None:
    """Publish records and return once Kafka acknowledged all of them: batched per partition
    on Kafka (`KafkaPublisher.send_many`), one `send` per record on other publishers (fakes)."""
    if isinstance(publisher, KafkaPublisher):
        await publisher.send_many(topic, records)
        return
    futures = [await publisher.send(topic, value, key) for value, key in records]
    if futures:
        await asyncio.gather(*futures)


async def publish(publisher: Publisher, topic: str, envelopes: Iterable[Envelope]) -> None:
    """Publish events and return once Kafka acknowledged all of them."""
    futures = [await publisher.send(topic, encode(e), encode_key(e)) for e in envelopes]
    if futures:
        await asyncio.gather(*futures)
