"""Leads, their identities, and identity conflicts."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.migrations import current_schema

revision = "scoring_0002"
down_revision = "scoring_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    now = sa.func.now()
    op.create_table(
        "leads",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("traits", JSONB, nullable=False, server_default="{}"),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merged_into", sa.String),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        schema=schema,
    )
    op.create_index("ix_leads_workspace", "leads", ["workspace_id"], schema=schema)
    op.create_table(
        "identities",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("kind", sa.String, primary_key=True),
        sa.Column("value", sa.String, primary_key=True),
        sa.Column("lead_id", sa.String, nullable=False),
        schema=schema,
    )
    op.create_index("ix_identities_lead", "identities", ["lead_id"], schema=schema)
    op.create_table(
        "identity_conflicts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("lead_id", sa.String, nullable=False),
        sa.Column("other_lead_id", sa.String, nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        schema=schema,
    )
    op.create_index(
        "ix_identity_conflicts_workspace", "identity_conflicts", ["workspace_id"], schema=schema
    )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
