"""What a running service holds: engine, producer, topics, outbox relay, consumers.

Built once per process (in the app's lifespan, or by a worker's main) and passed down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from aiokafka import AIOKafkaProducer
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from shared.bus import (
    BatchHandler,
    ConsumerRunner,
    DeadLetterSink,
    KafkaPublisher,
    create_consumer,
    create_producer,
    ensure_topics,
)
from shared.db import OutboxRelay, UnitOfWork, create_engine, create_session_factory
from shared.db.retention import keep_purging
from shared.errors import is_transient
from shared.events import Topics
from shared.settings import BaseServiceSettings
from shared.signals import sleep_unless
from shared.workspaces import WorkspaceDirectory, WorkspaceFeed

log = logging.getLogger(__name__)


@dataclass
class ServiceRuntime:
    settings: BaseServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer  # the first one; `publisher.producer` is the one in use
    publisher: KafkaPublisher
    topics: Topics
    deadletters: DeadLetterSink
    inbox: Table
    outbox: Table
    directory: WorkspaceDirectory  # every workspace and key hash, kept current from Kafka
    consumers: list[ConsumerRunner] = field(default_factory=list)
    # More readiness checks a service adds: name -> coroutine returning "ok" or the reason.
    checks: dict[str, Callable[[], Awaitable[str]]] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Set when the service stops: periodic loops finish their transaction and return.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, inbox=self.inbox, outbox=self.outbox)

    def consume(
        self,
        topics: list[str],
        handler: BatchHandler,
        *,
        whole_poll: bool = False,
        prefetch: bool = False,
    ) -> ConsumerRunner:
        """Start a consumer group member for these topics in the background.

        `handler` gets one partition's batch (with whole_poll: everything one poll returned)
        and applies it in one transaction (with prefetch too: the next poll is read and decoded
        while this one is applied); wrap a one-message handler in `per_message` to get
        a transaction per message instead.
        """
        s = self.settings
        consumer = create_consumer(
            s.kafka_bootstrap_servers,
            group_id=s.consumer_group,
            client_id=f"{s.service_name}-consumer",
        )
        runner = ConsumerRunner(
            consumer,
            topics=topics,
            group=s.consumer_group,
            handler=handler,
            deadletters=self.deadletters,
            service=s.service_name,
            batch_size=s.consumer_batch_size,
            whole_poll=whole_poll,
            prefetch=prefetch,
        )
        self.consumers.append(runner)
        self.background(runner.run(), f"consumer {topics}")
        return runner

    def background(self, coro: object, name: str) -> None:
        """Run a task for the service's life. It must return soon after `stopping` is set
        (periodic loops wait on it instead of sleeping); one that does not is cancelled after
        a grace period."""
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        task.add_done_callback(_log_crash)
        self.tasks.append(task)

    async def pause(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when the service is stopping (time to return)."""
        return await sleep_unless(self.stopping, seconds)

    async def readiness(self) -> dict[str, str]:
        """'ok' or the reason, per dependency."""
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2), self.engine.connect() as conn:
                await conn.execute(text("select 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {exc!r}"
        try:
            async with asyncio.timeout(2):
                metadata = await self.publisher.producer.client.fetch_all_metadata()
            checks["kafka"] = "ok" if metadata.brokers() else "unavailable: no brokers"
            if self.publisher.broken():
                checks["kafka"] = "unavailable: the producer failed; a new one starts on next use"
        except Exception as exc:
            checks["kafka"] = f"unavailable: {exc!r}"
        for name, check in self.checks.items():
            checks[name] = await check()
        return checks


STOP_GRACE_SECONDS = 10.0


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    """Let tasks end by themselves (each finishes its transaction); cancel stragglers (a
    send stuck on an unreachable broker, say) after the grace period."""
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
    for task in late:
        log.warning("task %s did not stop in time; cancelling it", task.get_name())
        task.cancel()
    if late:
        await asyncio.wait(late, timeout=STOP_GRACE_SECONDS)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=task.exception())


async def _until_kafka_answers(step: str, attempt_fn: object) -> None:
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_delay(60),
        wait=wait_exponential_jitter(multiplier=0.2, max=3, jitter=0.2),
        reraise=True,
    ):
        with attempt:
            await attempt_fn()  # type: ignore[operator]
    log.info("%s done", step)


@contextlib.asynccontextmanager
async def service_runtime(
    settings: BaseServiceSettings, *, inbox: Table, outbox: Table
) -> AsyncIterator[ServiceRuntime]:
    topics = Topics(settings.topic_prefix)
    engine = create_engine(settings.database_url)

    def new_producer() -> AIOKafkaProducer:
        return create_producer(settings.kafka_bootstrap_servers, client_id=settings.service_name)

    producer = new_producer()

    async def create_topics() -> None:
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            topics,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )

    await _until_kafka_answers("topic creation", create_topics)
    await _until_kafka_answers("producer start", producer.start)
    publisher = KafkaPublisher(producer, renew=new_producer)
    runtime = ServiceRuntime(
        settings=settings,
        engine=engine,
        sessions=create_session_factory(engine),
        producer=producer,
        publisher=publisher,
        topics=topics,
        deadletters=DeadLetterSink(publisher, topics.deadletter),
        inbox=inbox,
        outbox=outbox,
        directory=WorkspaceDirectory(),
    )
    feed = WorkspaceFeed(
        settings.kafka_bootstrap_servers,
        topics.workspaces,
        runtime.directory,
        deadletters=runtime.deadletters,
        service=settings.service_name,
        group=f"{settings.consumer_group}.workspaces",
    )
    await feed.start()

    async def workspaces_loaded() -> str:
        return "ok" if feed.loaded.is_set() else "loading"

    runtime.checks["workspaces"] = workspaces_loaded
    relay = OutboxRelay(engine, outbox, publisher, poll_seconds=settings.outbox_poll_seconds)
    runtime.background(relay.run(), "outbox relay")
    window = timedelta(hours=settings.dedupe_window_hours)
    runtime.background(keep_purging(engine, inbox, window, runtime.stopping), "inbox retention")
    try:
        yield runtime
    finally:
        runtime.stopping.set()
        relay.stop()
        for consumer in runtime.consumers:
            consumer.stop()
        await _finish(runtime.tasks)
        await feed.stop()
        await publisher.producer.stop()  # the one in use: a failed one may have been replaced
        await engine.dispose()
