"""Unit of work: one message or request, one transaction (inbox claim, effect, outbox)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.engine import driver_connection, schema_of
from shared.db.messaging import notify_channel
from shared.events import Envelope
from shared.events.codec import Record


class UnitOfWork:
    """`async with uow:` commits on success and rolls back on error; inner code never commits."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, inbox: Table, outbox: Table
    ) -> None:
        self._sessions = sessions
        self._inbox = inbox
        self._outbox = outbox
        self._session: AsyncSession | None = None
        self._outbox_used = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        await self._session.begin()
        self._outbox_used = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self.session, None
        try:
            if exc_type is None:
                if self._outbox_used:
                    # Delivered at commit, so the relay wakes exactly when the rows are visible.
                    await session.execute(select(func.pg_notify(self._channel, "")))
                await session.commit()
            else:
                await session.rollback()
        finally:
            await session.close()

    @property
    def _channel(self) -> str:
        return notify_channel(self._outbox.schema or "public")

    async def claim_batch(self, envelopes: Sequence[Envelope]) -> list[Envelope]:
        """Claim a batch at once; returns, in order, the envelopes to apply: those never
        processed before, each id once (a batch may carry the same message twice)."""
        ids = list(dict.fromkeys(e.id for e in envelopes))
        if not ids:
            return []
        # One array parameter (a cached, prepared statement whatever the batch size), sent
        # straight to the driver: SQLAlchemy's result processing cost ~2 us per id.
        raw = await driver_connection(self.session)
        schema = await schema_of(self.session, self._inbox)
        rows = await raw.fetch(_claim_statement(schema, self._inbox.name), ids)
        fresh = {row[0] for row in rows}
        todo = []
        for envelope in envelopes:
            if envelope.id in fresh:
                fresh.discard(envelope.id)
                todo.append(envelope)
        return todo

    async def emit(self, topic: str, *envelopes: Envelope | Record) -> None:
        """Queue events for the outbox relay; they are published only if this commits. An
        event may come already encoded (`Record`, e.g. from `encode_fields`)."""
        if not envelopes:
            return
        # COPY: one round trip and no per-row statement, however many events a batch made.
        raw = await driver_connection(self.session)
        await raw.copy_records_to_table(
            self._outbox.name,
            schema_name=await schema_of(self.session, self._outbox),
            columns=("topic", "key", "value"),
            records=[
                (topic, r.key, r.value)
                for r in (e if isinstance(e, Record) else Record.of(e) for e in envelopes)
            ],
        )
        self._outbox_used = True


@functools.cache
def _claim_statement(schema: str | None, table: str) -> str:
    return (
        f'INSERT INTO "{schema or "public"}"."{table}" (message_id) '
        "SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING message_id"
    )
