"""An audit log table in a service's schema, and the one way rows get in and out.

Rows say who (an API key's prefix, "api", "cli", "recipient") did what and when. Details
never hold a secret, an email or a user id: subjects are lead ids, key prefixes or keyed
hashes (shared/privacy.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession


def audit_table(metadata: MetaData) -> Table:
    return Table(
        "audit_log",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("workspace_id", String, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("action", String, nullable=False),
        Column("actor", String, nullable=False),
        Column("detail", JSONB, nullable=False, server_default="{}"),
        Index(f"ix_{metadata.schema}_audit_log_workspace", "workspace_id", "id"),
    )


async def record(
    session: AsyncSession, table: Table, workspace_id: str, action: str, actor: str, **detail: Any
) -> None:
    await session.execute(
        insert(table).values(workspace_id=workspace_id, action=action, actor=actor, detail=detail)
    )


async def entries(
    session: AsyncSession, table: Table, workspace_id: str, *, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """Newest first; `before` (an entry id) pages back."""
    query = select(table).where(table.c.workspace_id == workspace_id)
    if before is not None:
        query = query.where(table.c.id < before)
    rows = await session.execute(query.order_by(table.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]
