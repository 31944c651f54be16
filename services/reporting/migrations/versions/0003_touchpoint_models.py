"""Read models of leads, identity keys, touchpoints, volume, nurture and campaign costs."""

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import current_schema

revision = "reporting_0003"
down_revision = "reporting_0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    schema = current_schema()
    op.create_table(
        "leads",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("lead_id", sa.String, primary_key=True),
        sa.Column("merged_into", sa.String),
        *(
            sa.Column(f"{stage}_at", TS)
            for stage in (
                "subscriber",
                "lead",
                "mql",
                "sql",
                "opportunity",
                "customer",
                "disqualified",
                "recycled",
                "won",
            )
        ),
        sa.Column("won_amount", sa.Float),
        sa.Column("opportunity_entered_at", TS),
        sa.Column("opportunity_amount", sa.Float),
        sa.Column("first_touch_at", TS),
        sa.Column("first_touch_id", sa.String),
        sa.Column("source", sa.String),
        sa.Column("medium", sa.String),
        sa.Column("campaign", sa.String),
        schema=schema,
    )
    for column in ("subscriber_at", "lead_at", "mql_at", "sql_at", "opportunity_at", "customer_at"):
        op.create_index(f"ix_leads_{column}", "leads", ["workspace_id", column], schema=schema)
    op.create_index(  # cohorts: leads by first touch (or first stage entry without one)
        "ix_leads_first_seen",
        "leads",
        ["workspace_id", sa.text("least(first_touch_at, subscriber_at)")],
        schema=schema,
    )
    op.create_table(
        "lead_keys",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("lead_id", sa.String, nullable=False),
        schema=schema,
    )
    op.create_index(  # attribution: a lead's keys, read from the index alone
        "ix_lead_keys_lead",
        "lead_keys",
        ["workspace_id", "lead_id"],
        schema=schema,
        postgresql_include=["key"],
    )
    op.create_table(
        "touches",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("type", sa.String, nullable=False),
        sa.Column("source", sa.String),
        sa.Column("medium", sa.String),
        sa.Column("campaign", sa.String),
        schema=schema,
    )
    op.create_index(
        "ix_touches_utm",
        "touches",
        ["workspace_id", "key", "at"],
        schema=schema,
        postgresql_where=sa.text("source IS NOT NULL"),
        postgresql_include=["source", "campaign", "id"],
    )
    op.create_table(
        "key_touches",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("first_at", TS, nullable=False),
        sa.Column("first_id", sa.String, nullable=False),
        sa.Column("source", sa.String),
        sa.Column("medium", sa.String),
        sa.Column("campaign", sa.String),
        schema=schema,
    )
    op.create_table(
        "touch_volume",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("bucket", TS, primary_key=True),
        sa.Column("type", sa.String, primary_key=True),
        sa.Column("touches", sa.Integer, nullable=False),
        schema=schema,
    )
    op.create_table(
        "enrollments",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("enrollment_id", sa.String, primary_key=True),
        sa.Column("lead_id", sa.String, nullable=False),
        sa.Column("sequence_id", sa.String, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.Column("exit_reason", sa.String),
        schema=schema,
    )
    op.create_index(
        "ix_enrollments_lead", "enrollments", ["workspace_id", "lead_id"], schema=schema
    )
    op.create_table(
        "email_sends",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("send_id", sa.String, primary_key=True),
        sa.Column("lead_id", sa.String),
        sa.Column("sequence_id", sa.String),
        sa.Column("step_id", sa.String),
        sa.Column("variant_id", sa.String),
        *(
            sa.Column(f"{what}_at", TS)
            for what in ("sent", "bounced", "opened", "clicked", "unsubscribed")
        ),
        schema=schema,
    )
    op.create_index(
        "ix_email_sends_sent", "email_sends", ["workspace_id", "sent_at"], schema=schema
    )
    op.create_table(
        "campaign_costs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("campaign", sa.String, nullable=False),
        sa.Column("start", sa.Date, nullable=False),
        sa.Column("end", sa.Date, nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
