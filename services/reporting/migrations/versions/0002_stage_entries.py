"""Read model: when each lead first entered each lifecycle stage."""

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import current_schema

revision = "reporting_0002"
down_revision = "reporting_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    op.create_table(
        "stage_entries",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("lead_id", sa.String, primary_key=True),
        sa.Column("stage", sa.String, primary_key=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index(
        "ix_stage_entries_period",
        "stage_entries",
        ["workspace_id", "stage", "entered_at"],
        schema=schema,
    )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
