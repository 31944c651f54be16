"""SQL over the lead rows (`reporting.leads l`) that several reports share: which rows count,
and the groups a report can break leads down by."""

from __future__ import annotations

from typing import Any

from services.reporting.domain.buckets import cohorts_of
from services.reporting.domain.period import NO_TOUCH, NO_VALUE, Breakdown, CohortUnit, Period
from services.reporting.domain.stages import FUNNEL
from services.reporting.store.reports.bucket_sql import label_sql

LIVE = "l.workspace_id = :ws AND l.merged_into IS NULL"
# Leads that reached some stage in [:start, :end): one index range per stage (a bitmap OR),
# not every lead of the workspace.
ACTIVE = "(" + " OR ".join(f"(l.{s}_at >= :start AND l.{s}_at < :end)" for s in FUNNEL) + ")"
FIRST_SEEN = "least(l.first_touch_at, l.subscriber_at)"


def group_sql(breakdown: Breakdown | None, unit: CohortUnit = "month") -> tuple[str, str]:
    """(SQL of the group a lead row `l` falls in, extra FROM clause) for a breakdown."""
    if breakdown in ("source", "medium", "campaign"):
        # Keep in step with the statistics of migration 0007 (or the planner sorts).
        return (
            f"CASE WHEN l.first_touch_at IS NULL THEN '{NO_TOUCH}'"
            f" ELSE coalesce(l.{breakdown}, '{NO_VALUE}') END",
            "",
        )
    if breakdown == "cohort":
        return cohort_sql(unit), ""
    if breakdown == "sequence":
        # A lead counts in every sequence it was ever enrolled in (kept on its row).
        return (
            f"coalesce(en.sequence_id, '{NO_VALUE}')",
            " LEFT JOIN LATERAL unnest(l.sequences) en(sequence_id) ON true",
        )
    return "''", ""


def cohort_sql(unit: CohortUnit) -> str:
    """The first local day of the week (Monday) or month of the lead's first touch (its first
    stage entry when reporting saw no touchpoint of it); needs `cohort_params`."""
    return label_sql(FIRST_SEEN, unit)


def cohort_params(period: Period, unit: CohortUnit) -> dict[str, Any]:
    """Parameters of `cohort_sql` for the leads active in `period`."""
    return cohorts_of(period, unit).params()
