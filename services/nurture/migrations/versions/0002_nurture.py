"""Templates, sequences and versions, leads, enrollments, sends, suppressions, settings."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.migrations import current_schema

revision = "nurture_0002"
down_revision = "nurture_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    ts = sa.DateTime(timezone=True)
    now = sa.func.now()
    op.create_table(
        "templates",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False, server_default=""),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("archived", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("created_at", ts, nullable=False, server_default=now),
        sa.Column("updated_at", ts, nullable=False, server_default=now),
        schema=schema,
    )
    op.create_index("ix_templates_workspace", "templates", ["workspace_id"], schema=schema)
    op.create_table(
        "sequences",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False, server_default="draft"),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("created_at", ts, nullable=False, server_default=now),
        sa.Column("updated_at", ts, nullable=False, server_default=now),
        schema=schema,
    )
    op.create_index("ix_sequences_workspace", "sequences", ["workspace_id"], schema=schema)
    op.create_table(
        "sequence_versions",
        sa.Column(
            "sequence_id", sa.String, sa.ForeignKey(f"{schema}.sequences.id"), primary_key=True
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("definition", JSONB, nullable=False),
        sa.Column("created_at", ts, nullable=False, server_default=now),
        schema=schema,
    )
    op.create_table(
        "leads",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("lead_id", sa.String, primary_key=True),
        sa.Column("email", sa.String),
        sa.Column("traits", JSONB, nullable=False, server_default="{}"),
        sa.Column("score", sa.SmallInteger),
        sa.Column("fit", sa.SmallInteger),
        sa.Column("engagement", sa.SmallInteger),
        sa.Column("stage", sa.String),
        sa.Column("events", JSONB, nullable=False, server_default="[]"),
        sa.Column("merged_into", sa.String),
        sa.Column("updated_at", ts, nullable=False, server_default=now),
        schema=schema,
    )
    op.create_table(
        "lead_keys",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("kind", sa.String, primary_key=True),
        sa.Column("value", sa.String, primary_key=True),
        sa.Column("lead_id", sa.String, nullable=False),
        schema=schema,
    )
    op.create_table(
        "enrollments",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("sequence_id", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("lead_id", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("progress", JSONB, nullable=False),
        sa.Column("next_at", ts),
        sa.Column("entered_at", ts, nullable=False),
        sa.Column("ended_at", ts),
        sa.Column("exit_reason", sa.String),
        sa.Column("trigger", sa.String, nullable=False),
        sa.UniqueConstraint("sequence_id", "trigger", name="uq_enrollments_trigger"),
        schema=schema,
    )
    op.create_index(
        "ix_enrollments_due",
        "enrollments",
        ["next_at"],
        schema=schema,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_enrollments_lead", "enrollments", ["workspace_id", "lead_id"], schema=schema
    )
    op.create_table(
        "sends",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("send_key", sa.String, nullable=False, unique=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("enrollment_id", sa.String, nullable=False),
        sa.Column("lead_id", sa.String, nullable=False),
        sa.Column("sequence_id", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("step_id", sa.String, nullable=False),
        sa.Column("variant_id", sa.String),
        sa.Column("template_id", sa.String, nullable=False),
        sa.Column("to_email", sa.String),
        sa.Column("message_id", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("not_before", ts, nullable=False),
        sa.Column("deadline", ts, nullable=False),
        sa.Column("attempts", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", ts),
        sa.Column("last_error", sa.Text),
        sa.Column("claimed_at", ts),
        sa.Column("sent_at", ts),
        sa.Column("created_at", ts, nullable=False, server_default=now),
        schema=schema,
    )
    op.create_index("ix_sends_lead", "sends", ["workspace_id", "lead_id", "sent_at"], schema=schema)
    op.create_index(
        "ix_sends_due",
        "sends",
        ["next_attempt_at"],
        schema=schema,
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_table(
        "suppressions",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("email", sa.String, primary_key=True),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", ts, nullable=False, server_default=now),
        schema=schema,
    )
    op.create_table(
        "workspace_settings",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("config", JSONB, nullable=False),
        sa.Column("updated_at", ts, nullable=False, server_default=now),
        schema=schema,
    )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
