"""Async SQLAlchemy engine and session factory on asyncpg."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,  # a PostgreSQL restart leaves dead pooled connections behind
        # JSONB columns (lead features, payloads) are written a lot: orjson is ~5x json.
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under a session, inside the session's transaction: for COPY
    and array-parameter statements where SQLAlchemy would send one row at a time."""
    connection = await session.connection()
    raw: Any = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    if not raw.is_in_transaction():
        # SQLAlchemy opens the transaction at its first statement: run one before ours.
        await session.execute(text("select 1"))
    return raw


async def schema_of(session: AsyncSession, table: Table) -> str | None:
    """The schema `table` is in for this session: its engine's schema_translate_map applied,
    as SQLAlchemy does for its own statements (statements sent to the driver need it)."""
    connection = (await session.connection()).sync_connection
    assert connection is not None
    translate = connection.get_execution_options().get("schema_translate_map") or {}
    return translate.get(table.schema, table.schema)
