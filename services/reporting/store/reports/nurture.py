"""The nurture report's queries: per sequence, step and variant the period's emails and the
leads reaching a goal; per sequence, the enrollments started (the rows: domain/nurture.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.nurture import GOAL_PREFIXES, StepCounts, nurture_rows
from services.reporting.domain.period import Period

GOAL = "(" + " OR ".join(f"e.exit_reason LIKE '{p}%'" for p in GOAL_PREFIXES) + ")"
_COUNTS = """
    count(*) FILTER (WHERE s.sent_at IS NOT NULL) AS sent,
    count(*) FILTER (WHERE s.sent_at IS NOT NULL AND s.opened_at IS NOT NULL) AS opened,
    count(*) FILTER (WHERE s.sent_at IS NOT NULL AND s.clicked_at IS NOT NULL) AS clicked,
    count(*) FILTER (WHERE s.sent_at IS NOT NULL AND s.unsubscribed_at IS NOT NULL)
        AS unsubscribed,
    count(*) FILTER (WHERE s.bounced_at IS NOT NULL) AS bounced
"""
# Leads whose enrollment in a sequence reached its goal (one hash join, not a probe per send).
_GOALS = (
    "SELECT DISTINCT e.lead_id, e.sequence_id FROM reporting.enrollments e"
    f" WHERE e.workspace_id = :ws AND {GOAL}"
)
_STEPS = text(
    f"""
    SELECT s.sequence_id, s.step_id, coalesce(s.variant_id, '') AS variant_id,
           count(DISTINCT s.lead_id) AS enrolled,
           count(DISTINCT s.lead_id) FILTER (WHERE g.lead_id IS NOT NULL) AS reached_goal,
           {_COUNTS}
      FROM reporting.email_sends s
      LEFT JOIN ({_GOALS}) g ON g.lead_id = s.lead_id AND g.sequence_id = s.sequence_id
     WHERE s.workspace_id = :ws AND s.sequence_id IS NOT NULL
       AND ((s.sent_at >= :start AND s.sent_at < :end)
            OR (s.sent_at IS NULL AND s.bounced_at >= :start AND s.bounced_at < :end))
     GROUP BY 1, 2, 3
    """
)
_ENROLLED = text(
    f"""
    SELECT e.sequence_id, count(*), count(*) FILTER (WHERE {GOAL})
      FROM reporting.enrollments e
     WHERE e.workspace_id = :ws AND e.started_at >= :start AND e.started_at < :end
     GROUP BY 1
    """
)
_NAMES = ("sequence_id", "step_id", "variant_id")


async def nurture(session: AsyncSession, workspace_id: str, period: Period) -> list[dict[str, Any]]:
    params = {"ws": workspace_id, "start": period.start, "end": period.end}
    steps: list[StepCounts] = [
        (
            r.sequence_id,
            r.step_id or "",
            r.variant_id,
            {k: int(v) for k, v in r._mapping.items() if k not in _NAMES},
        )
        for r in await session.execute(_STEPS, params)
    ]
    enrolled = [
        (seq, int(n), int(goal)) for seq, n, goal in await session.execute(_ENROLLED, params)
    ]
    return nurture_rows(steps, enrolled)
