"""Opens, clicks and unsubscribes per send (results per step and variant); an index for the
per-workspace rate limit."""

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import current_schema

revision = "nurture_0003"
down_revision = "nurture_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    ts = sa.DateTime(timezone=True)
    for column in (
        sa.Column("opens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("clicks", sa.Integer, nullable=False, server_default="0"),
        sa.Column("opened_at", ts),
        sa.Column("clicked_at", ts),
        sa.Column("unsubscribed_at", ts),
    ):
        op.add_column("sends", column, schema=schema)
    op.create_index("ix_sends_workspace_sent", "sends", ["workspace_id", "sent_at"], schema=schema)


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
