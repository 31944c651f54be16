"""Outbox relay: publishes committed outbox rows to Kafka in id order, then deletes them.

One relay per schema publishes at a time (a PostgreSQL advisory lock); others stand by.
Killed at any point, it re-publishes at most the rows it had not yet deleted: consumers
drop those duplicates by event id, and per-key order is kept because rows go out in id order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.bus.producer import Publisher
from shared.db.messaging import notify_channel
from shared.errors import is_transient

log = logging.getLogger(__name__)

PUBLISHED = Counter("leadflow_outbox_published_total", "Outbox rows published to Kafka", ["schema"])


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Table,
        publisher: Publisher,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 500,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.publisher = publisher
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.schema = outbox.schema or "public"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.leading = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._lead()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning(
                    "outbox relay lost its connection, retrying", extra={"error": repr(exc)}
                )
                await self._sleep(self.poll_seconds)
            finally:
                self.leading.clear()

    @property
    def _lock_key(self) -> Any:
        return func.hashtext(f"leadflow-outbox:{self.schema}")

    async def publish_pending(self) -> bool:
        """Publish what the outbox holds now (for one-shot commands such as the CLI).

        False if a running relay leads: it was woken by the commit's NOTIFY and will do it.
        """
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if not await conn.scalar(select(func.pg_try_advisory_lock(self._lock_key))):
                return False
            try:
                while await self.drain():
                    pass
            finally:
                await conn.execute(select(func.pg_advisory_unlock(self._lock_key)))
        return True

    async def _lead(self) -> None:
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if not await conn.scalar(select(func.pg_try_advisory_lock(self._lock_key))):
                await self._sleep(self.poll_seconds)  # another relay leads; stand by
                return
            await self._listen(conn)
            self.leading.set()
            while not self._stopping.is_set():
                if await self.drain() == 0:
                    await self._sleep(self.poll_seconds)

    async def _listen(self, conn: AsyncConnection) -> None:
        raw: Any = (await conn.get_raw_connection()).driver_connection
        await raw.add_listener(notify_channel(self.schema), lambda *_: self._wake.set())

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def drain(self) -> int:
        """Publish one batch of outbox rows; returns how many went out."""
        o = self.outbox
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(o.c.id, o.c.topic, o.c.key, o.c.value)
                    .order_by(o.c.id)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                return 0
            # One send_many per topic (rows in id order within it): records share a batch
            # and one future per partition, instead of aiokafka's send and a future per row,
            # which cost the relay most of its CPU.
            by_topic: dict[str, list[tuple[bytes, bytes | None]]] = {}
            for r in rows:
                by_topic.setdefault(r.topic, []).append((r.value, r.key))
            await asyncio.gather(*(self.publisher.send_many(t, rs) for t, rs in by_topic.items()))
            # Delete by id, not `id <= max`: a lower id may belong to a transaction that
            # committed after this read and has not been published yet.
            await conn.execute(delete(o).where(o.c.id.in_([r.id for r in rows])))
            await conn.commit()
        PUBLISHED.labels(self.schema).inc(len(rows))
        return len(rows)
