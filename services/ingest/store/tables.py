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
from shared.db.audit import audit_table

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


# Erasures asked for, by keyed hash of the identifier only (shared/privacy.py): ingest drops
# later events of these people before they reach Kafka.
erased_identities = Table(
    "erased_identities",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("identity_hash", String, primary_key=True),
    Column("erasure_id", String, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Erasures, key changes, settings changes (shared/db/audit.py).
audit_log = audit_table(metadata)
