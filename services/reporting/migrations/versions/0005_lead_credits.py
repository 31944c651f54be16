"""Attribution credit per lead and conversion, kept by the consumer (decision 0012), filled
here from the read models already there; a partial index of merged leads."""

import sqlalchemy as sa
from alembic import op

from services.reporting.store.projections.credits import rebuild_sql
from shared.db.migrations import current_schema

revision = "reporting_0005"
down_revision = "reporting_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    op.create_table(
        "lead_credits",
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("lead_id", sa.String, nullable=False),
        sa.Column("stage", sa.String, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_source", sa.String, nullable=False),
        sa.Column("first_campaign", sa.String, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("campaign", sa.String, nullable=False),
        sa.Column("last", sa.Boolean, nullable=False),
        sa.Column("share", sa.Float, nullable=False),
        schema=schema,
    )
    op.create_index(
        "ix_lead_credits_period",
        "lead_credits",
        ["workspace_id", "stage", "at"],
        postgresql_include=[
            "first_source",
            "first_campaign",
            "source",
            "campaign",
            "last",
            "share",
        ],
        schema=schema,
    )
    op.create_index(
        "ix_lead_credits_lead", "lead_credits", ["workspace_id", "lead_id"], schema=schema
    )
    op.create_index(  # the consumer's per-batch look-up of merged leads (few)
        "ix_leads_merged",
        "leads",
        ["workspace_id", "lead_id"],
        postgresql_where=sa.text("merged_into IS NOT NULL"),
        postgresql_include=["merged_into"],
        schema=schema,
    )
    op.execute(
        rebuild_sql("SELECT workspace_id, lead_id FROM reporting.leads WHERE mql_at IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_table("lead_credits", schema=current_schema())
