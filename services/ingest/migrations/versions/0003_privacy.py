"""Erased identities (keyed hashes) and the audit log."""

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import create_audit_table, current_schema

revision = "ingest_0003"
down_revision = "ingest_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    op.create_table(
        "erased_identities",
        sa.Column("workspace_id", sa.String, primary_key=True),
        sa.Column("identity_hash", sa.String, primary_key=True),
        sa.Column("erasure_id", sa.String, nullable=False),
        sa.Column(
            "requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=schema,
    )
    create_audit_table(schema)


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
