"""Lead features (services/scoring/features.py: FeatureState as JSON)."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.migrations import current_schema

revision = "scoring_0003"
down_revision = "scoring_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "leads",
        sa.Column("features", JSONB, nullable=False, server_default="{}"),
        schema=current_schema(),
    )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
