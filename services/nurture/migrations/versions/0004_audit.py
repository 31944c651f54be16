"""The audit log of consent changes and erasures."""

from shared.db.migrations import create_audit_table, current_schema

revision = "nurture_0004"
down_revision = "nurture_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_table(current_schema())


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
