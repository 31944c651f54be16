"""Erased people's identifiers, as keyed hashes."""

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import current_schema

revision = "scoring_0006"
down_revision = "scoring_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erased_keys",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("key_hash", sa.String, primary_key=True),
        sa.Column(
            "erased_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=current_schema(),
    )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
