"""Each lead's nurture sequences kept on its row (the funnel's sequence breakdown reads them
there instead of joining every enrollment of the workspace), filled from the enrollments."""

import sqlalchemy as sa
from alembic import op

from shared.db.migrations import current_schema

revision = "reporting_0006"
down_revision = "reporting_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    op.add_column("leads", sa.Column("sequences", sa.ARRAY(sa.String)), schema=schema)
    op.execute(
        f"""
        UPDATE {schema}.leads l SET sequences = e.sequences
          FROM (SELECT workspace_id, lead_id,
                       array_agg(DISTINCT sequence_id ORDER BY sequence_id) AS sequences
                  FROM {schema}.enrollments GROUP BY 1, 2) e
         WHERE l.workspace_id = e.workspace_id AND l.lead_id = e.lead_id
        """
    )


def downgrade() -> None:
    op.drop_column("leads", "sequences", schema=current_schema())
