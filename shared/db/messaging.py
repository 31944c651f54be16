"""The inbox and outbox tables every service schema has."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    func,
)


def inbox_table(metadata: MetaData) -> Table:
    """Ids of messages already applied: claiming one twice means the second is a redelivery."""
    return Table(
        "inbox",
        metadata,
        Column("message_id", Uuid, primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def outbox_table(metadata: MetaData) -> Table:
    """Events written in the same transaction as the state change that caused them.

    The relay publishes rows in id order and deletes them once Kafka acknowledged them.
    """
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("topic", String, nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index(None, "created_at"),
    )


def notify_channel(schema: str) -> str:
    """LISTEN/NOTIFY channel that wakes a schema's outbox relay."""
    return f"{schema}_outbox"
