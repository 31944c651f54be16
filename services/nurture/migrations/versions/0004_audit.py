"""The audit log of consent changes and erasures."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.migrations import current_schema

revision = "nurture_0004"
down_revision = "nurture_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("actor", sa.String, nullable=False),
        sa.Column("detail", JSONB, nullable=False, server_default="{}"),
        schema=schema,
    )
    op.create_index(
        f"ix_{schema}_audit_log_workspace", "audit_log", ["workspace_id", "id"], schema=schema
    )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
