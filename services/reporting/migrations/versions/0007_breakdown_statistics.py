"""Statistics on the funnel's source/medium/campaign group expressions.

The planner estimates the groups of an expression by its columns, and first_touch_at is
nearly unique: it expected one group per lead, so it sorted ~50,000 leads to group them
into a handful of sources. With statistics on the expression itself (the very text of
funnel.group_sql) it knows there are few and hashes them."""

from alembic import op

from shared.db.migrations import current_schema

revision = "reporting_0007"
down_revision = "reporting_0006"
branch_labels = None
depends_on = None

DIMENSIONS = ("source", "medium", "campaign")


def upgrade() -> None:
    schema = current_schema()
    for dim in DIMENSIONS:
        op.execute(
            f'CREATE STATISTICS "{schema}".leads_{dim}_group'
            f" ON (CASE WHEN first_touch_at IS NULL THEN '(unknown)'"
            f" ELSE coalesce({dim}, '(none)') END) FROM \"{schema}\".leads"
        )
    op.execute(f'ANALYZE "{schema}".leads')


def downgrade() -> None:
    schema = current_schema()
    for dim in DIMENSIONS:
        op.execute(f'DROP STATISTICS "{schema}".leads_{dim}_group')
