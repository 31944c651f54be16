"""The stage-time indexes of `leads` only hold the leads that reached the stage, and
`touch_volume` leaves room on its pages for the updates of its counters (docs/decisions/0039).

Most leads never reach MQL, SQL, opportunity or customer: their NULLs filled those indexes
and every new version of a lead's row wrote them. Every report reads them with a range on
the column, which implies IS NOT NULL, so the same plans use the partial indexes.
`touch_volume.touches` is not indexed, so its updates can stay on their page (HOT) when the
page has room; the fill factor applies to the pages written from now on."""

from alembic import op
from sqlalchemy import text

from shared.db.migrations import current_schema

revision = "reporting_0009"
down_revision = "reporting_0008"
branch_labels = None
depends_on = None

STAGES = ("subscriber_at", "lead_at", "mql_at", "sql_at", "opportunity_at", "customer_at")
TOUCH_VOLUME_FILLFACTOR = 90


def upgrade() -> None:
    schema = current_schema()
    for column in STAGES:
        op.drop_index(f"ix_leads_{column}", "leads", schema=schema)
        op.create_index(
            f"ix_leads_{column}",
            "leads",
            ["workspace_id", column],
            postgresql_where=text(f"{column} IS NOT NULL"),
            schema=schema,
        )
    op.execute(f'ALTER TABLE "{schema}".touch_volume SET (fillfactor = {TOUCH_VOLUME_FILLFACTOR})')


def downgrade() -> None:
    schema = current_schema()
    op.execute(f'ALTER TABLE "{schema}".touch_volume RESET (fillfactor)')
    for column in STAGES:
        op.drop_index(f"ix_leads_{column}", "leads", schema=schema)
        op.create_index(f"ix_leads_{column}", "leads", ["workspace_id", column], schema=schema)
