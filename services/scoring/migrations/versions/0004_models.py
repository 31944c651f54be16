"""Model registry: versioned artifacts with metrics, at most one live."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.migrations import current_schema

revision = "scoring_0004"
down_revision = "scoring_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    op.create_table(
        "models",
        sa.Column("version", sa.String, primary_key=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("metrics", JSONB, nullable=False),
        sa.Column("artifact", sa.LargeBinary, nullable=False),
        sa.Column("live", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("promoted_at", sa.DateTime(timezone=True)),
        schema=schema,
    )
    op.create_index(
        "ux_models_live",
        "models",
        ["live"],
        unique=True,
        schema=schema,
        postgresql_where=sa.text("live"),
    )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
