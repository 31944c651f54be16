"""Indexes of `leads` fitted to the queries that read them (docs/decisions/0040).

Every batch rewrites its leads' rows (score, updated_at, scored_at change), so each index is
one more entry per lead per batch. Dropped: `ix_leads_workspace` (the first column of the
others) and `ix_leads_scored_at` (the decay job's query, with its OR, scans the table anyway).
The API's score listings get indexes in their own order (score descending, nulls last, then
id), live leads only, so a page is read from the index instead of sorting the workspace. A
merge re-points the leads folded into the folded lead: `merged_into` gets a small partial
index instead of a scan of the table.
"""

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import current_schema

revision = "scoring_0007"
down_revision = "scoring_0006"
branch_labels = None
depends_on = None

LIVE = sa.text("merged_into IS NULL")


def upgrade() -> None:
    schema = current_schema()
    for name in (
        "ix_leads_workspace",
        "ix_leads_scored_at",
        "ix_leads_workspace_score",
        "ix_leads_workspace_stage",
    ):
        op.drop_index(name, table_name="leads", schema=schema)
    op.create_index(
        "ix_leads_workspace_score",
        "leads",
        ["workspace_id", sa.text("score DESC NULLS LAST"), "id"],
        postgresql_where=LIVE,
        schema=schema,
    )
    op.create_index(
        "ix_leads_workspace_stage",
        "leads",
        ["workspace_id", "stage", sa.text("score DESC NULLS LAST"), "id"],
        postgresql_where=LIVE,
        schema=schema,
    )
    op.create_index(
        "ix_leads_merged_into",
        "leads",
        ["merged_into"],
        postgresql_where=sa.text("merged_into IS NOT NULL"),
        schema=schema,
    )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
