"""Tables of the scoring service, all in its own PostgreSQL schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db import inbox_table, outbox_table

metadata = MetaData(schema="scoring")
inbox = inbox_table(metadata)
outbox = outbox_table(metadata)

# One row per person per workspace. A lead folded into another keeps its row, pointing at it.
leads = Table(
    "leads",
    metadata,
    Column("id", String, primary_key=True),
    Column("workspace_id", String, nullable=False),
    Column("traits", JSONB, nullable=False, server_default="{}"),
    Column("features", JSONB, nullable=False, server_default="{}"),  # features.FeatureState
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("merged_into", String),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_leads_workspace", "workspace_id"),
)

identities = Table(
    "identities",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("kind", String, primary_key=True),
    Column("value", String, primary_key=True),
    Column("lead_id", String, nullable=False),
    Index("ix_identities_lead", "lead_id"),
)

identity_conflicts = Table(
    "identity_conflicts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("workspace_id", String, nullable=False),
    Column("lead_id", String, nullable=False),
    Column("other_lead_id", String, nullable=False),
    Column("reason", String, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_identity_conflicts_workspace", "workspace_id"),
)

# Versioned conversion models: the artifact (joblib bytes), where it came from, its metrics.
# At most one is live (the partial unique index).
models = Table(
    "models",
    metadata,
    Column("version", String, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("source", String, nullable=False),
    Column("metrics", JSONB, nullable=False),
    Column("artifact", LargeBinary, nullable=False),
    Column("live", Boolean, nullable=False, server_default="false"),
    Column("promoted_at", DateTime(timezone=True)),
    Index("ux_models_live", "live", unique=True, postgresql_where=text("live")),
)
