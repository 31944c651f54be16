"""Workspaces and their (hashed) keys."""

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import current_schema

revision = "ingest_0002"
down_revision = "ingest_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("allowed_origins", sa.ARRAY(sa.String), nullable=False, server_default="{}"),
        sa.Column("truncate_ip", sa.Boolean, nullable=False, server_default="false"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=schema,
    )
    op.create_table(
        "workspace_keys",
        sa.Column("hash", sa.String, primary_key=True),
        sa.Column(
            "workspace_id", sa.String, sa.ForeignKey(f"{schema}.workspaces.id"), nullable=False
        ),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("prefix", sa.String, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        schema=schema,
    )
    op.create_index(
        "ix_workspace_keys_active",
        "workspace_keys",
        ["workspace_id", "kind"],
        schema=schema,
        postgresql_where=sa.text("revoked_at is null"),
    )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
