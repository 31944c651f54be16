"""A lead's feature state and factors as `json`, not `jsonb` (docs/decisions/0042).

Every batch reads and rewrites the rows of the leads it touches, and nothing queries inside
these two columns: PostgreSQL only stores and returns them. `jsonb` parses the text into
its binary form on every write and prints it back on every read; for the feature state
(90 days of counters, ~750 bytes) that was ~20 us per lead per batch, `json` (kept as
sent, syntax checked) ~6 us: about a third of the database's time per event.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.db.migrations import current_schema

revision = "scoring_0008"
down_revision = "scoring_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    for column, default in (("features", "{}"), ("factors", "[]")):
        op.alter_column(
            "leads",
            column,
            type_=postgresql.JSON(),
            existing_type=postgresql.JSONB(),
            postgresql_using=f"{column}::json",
            server_default=sa.text(f"'{default}'::json"),
            existing_nullable=False,
            schema=schema,
        )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
