"""Each registered model's artifact signed with the service's secret (docs/security.md).

Rows registered before this migration have no signature and are refused when loaded: register
them again with `leadflow scoring train` (or re-sign them with a secret-holding process).
"""

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import current_schema

revision = "scoring_0009"
down_revision = "scoring_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("models", sa.Column("signature", sa.String), schema=current_schema())


def downgrade() -> None:
    op.drop_column("models", "signature", schema=current_schema())
