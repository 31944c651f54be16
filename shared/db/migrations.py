"""Alembic per service: each service's `migrations/` folder, its own schema and version table."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

# Alembic keeps its migration context in module globals: one upgrade per process at a time.
# (Across processes, the advisory lock in _run_online serialises them.)
_IN_PROCESS = threading.Lock()


def _upgrade_head(cfg: Config) -> None:
    with _IN_PROCESS:
        command.upgrade(cfg, "head")


def alembic_config(migrations_dir: Path, *, database_url: str, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["schema"] = schema
    return cfg


async def upgrade(migrations_dir: Path, *, database_url: str, schema: str) -> None:
    """`alembic upgrade head` for one service; safe to run twice or concurrently."""
    cfg = alembic_config(migrations_dir, database_url=database_url, schema=schema)
    # env.py drives its own event loop, so it runs in a thread that has none.
    await asyncio.to_thread(_upgrade_head, cfg)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py."""
    cfg = context.config
    url: str = cfg.attributes["database_url"]
    schema: str = cfg.attributes["schema"]
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=target_metadata,
            version_table_schema=schema,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, schema, target_metadata))


async def _run_online(url: str, schema: str, target_metadata: MetaData) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            # Two processes migrating the same schema at once: the second waits, then no-ops.
            await conn.execute(
                text("select pg_advisory_xact_lock(hashtext(:k))"), {"k": f"migrate:{schema}"}
            )
            await conn.execute(text(f'create schema if not exists "{schema}"'))
            await conn.run_sync(_migrate, schema, target_metadata)
    finally:
        await engine.dispose()


def _migrate(conn: Connection, schema: str, target_metadata: MetaData) -> None:
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def current_schema() -> str:
    """The schema being migrated, for use inside a migration script."""
    schema: str = context.config.attributes["schema"]
    return schema


def create_messaging_tables(schema: str) -> None:
    """The inbox and outbox as of migration 0001 (frozen here, like any migration)."""
    op.create_table(
        "inbox",
        sa.Column("message_id", sa.Uuid, primary_key=True),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=schema,
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String, nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=schema,
    )
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"], schema=schema)


def create_audit_table(schema: str) -> None:
    """The audit log (shared/db/audit.py) as first created (frozen here, like any migration)."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("actor", sa.String, nullable=False),
        sa.Column("detail", JSONB, nullable=False, server_default="{}"),
        schema=schema,
    )
    op.create_index(
        f"ix_{schema}_audit_log_workspace", "audit_log", ["workspace_id", "id"], schema=schema
    )
