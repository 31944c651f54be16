"""Scores and stages on leads; stage history, timeline, workspace settings, rule ledger."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.migrations import current_schema

revision = "scoring_0005"
down_revision = "scoring_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    ts = sa.DateTime(timezone=True)
    for column in (
        sa.Column("stage", sa.String),
        sa.Column("stage_entered_at", ts),
        sa.Column("stalled_at", ts),
        sa.Column("identified", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("score", sa.SmallInteger),
        sa.Column("probability", sa.Float),
        sa.Column("fit", sa.SmallInteger),
        sa.Column("engagement", sa.SmallInteger),
        sa.Column("model_version", sa.String),
        sa.Column("factors", JSONB, nullable=False, server_default="[]"),
        sa.Column("scored_at", ts),
        sa.Column("published_score", sa.SmallInteger),
        sa.Column("rule_scores", JSONB, nullable=False, server_default="{}"),
    ):
        op.add_column("leads", column, schema=schema)
    op.create_index(
        "ix_leads_workspace_stage", "leads", ["workspace_id", "stage", "score"], schema=schema
    )
    op.create_index("ix_leads_workspace_score", "leads", ["workspace_id", "score"], schema=schema)
    op.create_index(
        "ix_leads_workspace_updated", "leads", ["workspace_id", "updated_at"], schema=schema
    )
    op.create_index("ix_leads_scored_at", "leads", ["scored_at"], schema=schema)
    op.create_table(
        "lead_stages",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("lead_id", sa.String, nullable=False),
        sa.Column("stage", sa.String, nullable=False),
        sa.Column("from_stage", sa.String),
        sa.Column("entered_at", ts, nullable=False),
        sa.Column("left_at", ts),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("actor", sa.String, nullable=False),
        sa.Column("score", sa.SmallInteger),
        sa.Column("model_version", sa.String),
        sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
        schema=schema,
    )
    op.create_index("ix_lead_stages_lead", "lead_stages", ["lead_id", "id"], schema=schema)
    op.create_index(
        "ix_lead_stages_workspace", "lead_stages", ["workspace_id", "id"], schema=schema
    )
    op.create_table(
        "lead_events",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("lead_id", sa.String, nullable=False),
        sa.Column("type", sa.String, nullable=False),
        sa.Column("occurred_at", ts, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        schema=schema,
    )
    op.create_index("ix_lead_events_lead", "lead_events", ["lead_id", "occurred_at"], schema=schema)
    op.create_table(
        "workspace_settings",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("config", JSONB, nullable=False),
        sa.Column("updated_at", ts, nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.create_table(
        "rule_ledger",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("lead_id", sa.String, nullable=False),
        sa.Column("score", sa.String, nullable=False),
        sa.Column("rule_id", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("half_life_days", sa.Float),
        sa.Column("awarded_at", ts, nullable=False),
        sa.Column("event_id", sa.String),
        sa.Column("reason", sa.String, nullable=False),
        schema=schema,
    )
    op.create_index("ix_rule_ledger_lead", "rule_ledger", ["lead_id", "id"], schema=schema)
    op.add_column("models", sa.Column("workspace_id", sa.String), schema=schema)


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
