"""Tables of the scoring service, all in its own PostgreSQL schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB

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
    # features and factors: json, not jsonb (never queried inside; see migration 0008)
    Column("features", JSON, nullable=False, server_default="{}"),  # features.FeatureState
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("merged_into", String),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # lifecycle (services/scoring/domain/lifecycle.py): the current stage; history in lead_stages
    Column("stage", String),
    Column("stage_entered_at", DateTime(timezone=True)),
    Column("stalled_at", DateTime(timezone=True)),  # lead.stalled sent for this stage entry
    Column("identified", Boolean, nullable=False, server_default="false"),
    # the latest score (services/scoring/domain/scorer.py) and the last one published
    Column("score", SmallInteger),
    Column("probability", Float),
    Column("fit", SmallInteger),
    Column("engagement", SmallInteger),
    Column("model_version", String),
    Column("factors", JSON, nullable=False, server_default="[]"),
    Column("scored_at", DateTime(timezone=True)),
    Column("published_score", SmallInteger),
    Column("rule_scores", JSONB, nullable=False, server_default="{}"),  # point rules' scores
    # Each index costs every batch an entry per lead written (no HOT updates: updated_at
    # changes): only what the API's listings and a merge need (docs/decisions/0040).
    Index(
        "ix_leads_workspace_score",
        "workspace_id",
        text("score DESC NULLS LAST"),
        "id",
        postgresql_where=text("merged_into IS NULL"),
    ),
    Index(
        "ix_leads_workspace_stage",
        "workspace_id",
        "stage",
        text("score DESC NULLS LAST"),
        "id",
        postgresql_where=text("merged_into IS NULL"),
    ),
    Index("ix_leads_workspace_updated", "workspace_id", "updated_at"),
    Index("ix_leads_merged_into", "merged_into", postgresql_where=text("merged_into IS NOT NULL")),
)

# Every stage a lead entered: when, why, who (auto, sales, event), left when.
lead_stages = Table(
    "lead_stages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("workspace_id", String, nullable=False),
    Column("lead_id", String, nullable=False),
    Column("stage", String, nullable=False),
    Column("from_stage", String),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Column("left_at", DateTime(timezone=True)),
    Column("reason", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("score", SmallInteger),
    Column("model_version", String),
    Column("event_id", Uuid, nullable=False, unique=True),  # of its lead.lifecycle_changed
    Index("ix_lead_stages_lead", "lead_id", "id"),
    Index("ix_lead_stages_workspace", "workspace_id", "id"),
)

# A lead's timeline: its touchpoints and email events (payload without the bulky context).
lead_events = Table(
    "lead_events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("workspace_id", String, nullable=False),
    Column("lead_id", String, nullable=False),
    Column("type", String, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSONB, nullable=False),
    Index("ix_lead_events_lead", "lead_id", "occurred_at"),
)

# services/scoring/domain/config.py: ScoringConfig as JSON; absent means the defaults.
workspace_settings = Table(
    "workspace_settings",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("config", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Point rules' awards (services/scoring/domain/rules.py): a named score is the sum of
# its entries.
rule_ledger = Table(
    "rule_ledger",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("workspace_id", String, nullable=False),
    Column("lead_id", String, nullable=False),
    Column("score", String, nullable=False),
    Column("rule_id", String, nullable=False),
    Column("kind", String, nullable=False),  # fit | engagement
    Column("action", String, nullable=False),  # award | reverse
    Column("points", Float, nullable=False),
    Column("half_life_days", Float),  # the rule's, when awarded
    Column("awarded_at", DateTime(timezone=True), nullable=False),
    Column("event_id", String),
    Column("reason", String, nullable=False),
    Index("ix_rule_ledger_lead", "lead_id", "id"),
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

# Whom scoring must forget (services/scoring/store/erasure.py): keyed hashes of every identifier
# (and lead id) of an erased person; their later events are ignored.
erased_keys = Table(
    "erased_keys",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("key_hash", String, primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
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
    Column("signature", String),  # HMAC of the artifact under the secret (domain/artifacts.py)
    Column("live", Boolean, nullable=False, server_default="false"),
    Column("promoted_at", DateTime(timezone=True)),
    Column("workspace_id", String),  # trained on this workspace's leads; None: shared
    Index("ux_models_live", "live", unique=True, postgresql_where=text("live")),
)
