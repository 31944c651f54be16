"""Consumer runner: batches from Kafka, handled in batches, offsets committed after.

The handler applies a batch of one partition's messages inside one database transaction and
returns only once it committed; offsets are committed after that, so a crash in between means
redelivery, which the handler's inbox turns into a no-op (at-least-once delivery,
exactly-once effect). If a batch fails for a reason other than an outage, its messages are
retried one by one so that a single bad message is dead-lettered alone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from prometheus_client import Counter
from tenacity import AsyncRetrying, RetryCallState, wait_exponential_jitter
from tenacity.wait import wait_base

from shared.bus.deadletter import DeadLetter, DeadLetterSink
from shared.errors import PermanentError, is_transient
from shared.events import DecodeError, Envelope, decode

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]
BatchHandler = Callable[[Sequence[Envelope]], Awaitable[None]]
# A polled record and what decoding it gave.
Decoded: TypeAlias = "tuple[ConsumerRecord[Any, Any], Envelope | DecodeError]"


def per_message(handler: Handler) -> BatchHandler:
    """A batch handler that calls `handler` for each message (one transaction each)."""

    async def handle(envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            await handler(envelope)

    return handle


MESSAGES = Counter(
    "leadflow_consumer_messages_total",
    "Messages taken from Kafka, by outcome (applied or deadlettered)",
    ["group", "topic", "outcome"],
)


class Consumer(Protocol):
    """The part of AIOKafkaConsumer the runner uses (a fake implements it in unit tests)."""

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]: ...
    async def commit(
        self, offsets: dict[TopicPartition, int | OffsetAndMetadata] | None = None
    ) -> None: ...


def create_consumer(bootstrap_servers: str, *, group_id: str, client_id: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_interval_ms=600_000,  # a database outage blocks a batch; don't get kicked for it
    )


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.runner.commit(only=set(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"partitions": [str(tp) for tp in assigned]})


class ConsumerRunner:
    def __init__(
        self,
        consumer: Consumer,
        *,
        topics: list[str],
        group: str,
        handler: BatchHandler,
        deadletters: DeadLetterSink,
        service: str,
        batch_size: int = 500,
        whole_poll: bool = False,
        prefetch: bool = False,
        max_attempts: int = 3,
        decoder: Callable[[bytes | None], Envelope] = decode,
        retry_wait: wait_base | None = None,
    ) -> None:
        self.consumer = consumer
        self.topics = topics
        self.group = group
        self.handler = handler
        self.deadletters = deadletters
        self.service = service
        self.batch_size = batch_size
        # One handler call (one transaction) for everything a poll returned, all partitions
        # together, instead of one per partition: fewer, larger batches for handlers whose
        # cost is mostly per call. Order within each partition is kept.
        self.whole_poll = whole_poll
        # With whole_poll: the next poll is taken from Kafka and decoded while this one is
        # being applied (the decoding, ~8 us a message, overlaps the database's work instead
        # of following it). Records of partitions revoked meanwhile are left to their new
        # owner.
        self.prefetch = prefetch and whole_poll
        self.max_attempts = max_attempts
        self.decoder = decoder
        self.retry_wait = retry_wait or wait_exponential_jitter(multiplier=0.1, max=5, jitter=0.1)
        self._pending: dict[TopicPartition, int] = {}
        self._last_error: BaseException = Exception()
        self._lock = asyncio.Lock()  # a revocation commits only between two messages
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to finish the current batch, commit and return (e.g. on SIGTERM)."""
        self._stopping.set()

    async def run(self) -> None:
        self.consumer.subscribe(self.topics, listener=_CommitOnRevoke(self))
        await self.consumer.start()
        self.started.set()
        # With prefetch, the next poll is read and decoded while this one is applied.
        next_poll = asyncio.ensure_future(self._poll()) if self.prefetch else None
        try:
            while not self._stopping.is_set():
                if next_poll is None:
                    polled = await self._poll()
                else:
                    polled = await next_poll
                    next_poll = asyncio.ensure_future(self._poll())
                async with self._lock:
                    await self._process(polled)
                await self.commit()
        finally:
            if next_poll is not None:
                next_poll.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await next_poll
            await self.commit()
            await self.consumer.stop()

    async def _poll(self) -> list[list[Decoded]]:
        """One poll, each record decoded (or its DecodeError): one group per partition, or
        one group for everything with whole_poll (order within each partition kept)."""
        batch = await self.consumer.getmany(timeout_ms=500, max_records=self.batch_size)
        groups: list[list[Decoded]] = []
        decoded = 0
        for records in batch.values():
            if not groups or not self.whole_poll:
                groups.append([])
            for record in records:
                try:
                    groups[-1].append((record, self.decoder(record.value)))
                except DecodeError as exc:
                    groups[-1].append((record, exc))
                decoded += 1
                if self.prefetch and decoded % 256 == 0:
                    await asyncio.sleep(0)  # the batch being applied goes on meanwhile
        return groups

    async def _process(self, groups: list[list[Decoded]]) -> None:
        """Each group in one handler call (decode failures dead-lettered); stops at the first
        group a stop interrupted (then nothing of it is committed: the inbox makes the replay
        harmless). Records of partitions this member no longer owns are dropped: their new
        owner reads them from the committed offset (a prefetched poll can predate a
        rebalance)."""
        assignment = getattr(self.consumer, "assignment", None)
        for group in groups:
            if self._stopping.is_set():
                return
            if assignment is not None:
                owned = assignment()
                group = [(r, e) for r, e in group if TopicPartition(r.topic, r.partition) in owned]
            pairs: list[tuple[ConsumerRecord[Any, Any], Envelope]] = []
            for record, result in group:
                if isinstance(result, DecodeError):
                    await self._deadletter(record, str(result), result)
                else:
                    pairs.append((record, result))
            if pairs and not await self._settle(pairs):
                return
            for record, _ in group:
                self._pending[TopicPartition(record.topic, record.partition)] = record.offset + 1

    async def _settle(self, pairs: list[tuple[ConsumerRecord[Any, Any], Envelope]]) -> bool:
        """Apply the batch; if it fails, find the bad message(s) by halves (a few
        transactions, not one per message), in order, and dead-letter only those."""
        if await self._apply([envelope for _, envelope in pairs]):
            for topic, n in collections.Counter(r.topic for r, _ in pairs).items():
                MESSAGES.labels(self.group, topic, "applied").inc(n)
            return True
        if len(pairs) == 1:
            record, _ = pairs[0]
            await self._deadletter(record, f"handler failed: {self._last_error}", self._last_error)
            return True
        if self._stopping.is_set():
            return False
        middle = len(pairs) // 2
        return await self._settle(pairs[:middle]) and await self._settle(pairs[middle:])

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        async with self._lock:
            offsets = {
                tp: offset for tp, offset in self._pending.items() if only is None or tp in only
            }
            if not offsets:
                return
            await self.consumer.commit(dict(offsets))
            for tp in offsets:
                self._pending.pop(tp, None)

    async def _apply(self, envelopes: list[Envelope]) -> bool:
        """Run the handler with retries; False (and `_last_error`) if it kept failing."""
        try:
            async for attempt in AsyncRetrying(
                retry=self._should_retry, wait=self.retry_wait, reraise=True
            ):
                with attempt:
                    await self.handler(envelopes)
        except Exception as exc:
            if self._stopping.is_set() and is_transient(exc):
                raise  # shutting down during an outage: leave it uncommitted for the next run
            self._last_error = exc
            return False
        return True

    def _should_retry(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if exc is None or isinstance(exc, PermanentError):
            return False
        if is_transient(exc):
            log.warning("transient failure, retrying", extra={"error": repr(exc)})
            return not self._stopping.is_set()
        return state.attempt_number < self.max_attempts

    async def _deadletter(
        self, record: ConsumerRecord[Any, Any], reason: str, exc: BaseException
    ) -> None:
        log.error(
            "dead-lettering message",
            extra={"topic": record.topic, "offset": record.offset, "reason": reason},
        )
        letter = DeadLetter.of_bytes(
            record.value,
            service=self.service,
            reason=reason,
            error_type=type(exc).__name__,
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None,
        )
        await self.deadletters.put(letter, key=record.key)
        MESSAGES.labels(self.group, record.topic, "deadlettered").inc()
