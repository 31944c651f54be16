"""Tables of the ingest service, all in its own PostgreSQL schema."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    func,
    text,
)

from shared.db import inbox_table, outbox_table

metadata = MetaData(schema="ingest")
inbox = inbox_table(metadata)
outbox = outbox_table(metadata)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("allowed_origins", ARRAY(String), nullable=False, server_default="{}"),
    Column("truncate_ip", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Keys are stored as SHA-256 hashes; `prefix` (the first characters) lets a person tell them apart.
workspace_keys = Table(
    "workspace_keys",
    metadata,
    Column("hash", String, primary_key=True),
    Column("workspace_id", String, ForeignKey(workspaces.c.id), nullable=False),
    Column("kind", String, nullable=False),
    Column("prefix", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
    Index(
        "ix_workspace_keys_active",
        "workspace_id",
        "kind",
        postgresql_where=text("revoked_at is null"),
    ),
)
