"""Inbox and outbox of the reporting schema."""

from shared.db.migrations import create_messaging_tables, current_schema

revision = "reporting_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables(current_schema())


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
