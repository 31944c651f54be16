"""The enrollments that exited on a goal, indexed: the nurture report joins the period's
sends to them, and read them by scanning every enrollment of the workspace."""

from alembic import op
from sqlalchemy import text

from shared.db.migrations import current_schema

revision = "reporting_0008"
down_revision = "reporting_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_enrollments_goal",
        "enrollments",
        ["workspace_id", "lead_id", "sequence_id"],
        postgresql_where=text("exit_reason LIKE 'stage:%' OR exit_reason LIKE 'event:%'"),
        schema=current_schema(),
    )


def downgrade() -> None:
    op.drop_index("ix_enrollments_goal", "enrollments", schema=current_schema())
