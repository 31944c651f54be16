"""Nurture: per sequence, step and variant, the emails sent or bounced in the period and
what came of them, and per sequence, the enrollments started in the period.

Step rows: `enrolled` is the leads this step (variant) went to; `reached_goal` those of them
whose enrollment in the sequence exited on one of its goals (a stage such as sql, or an
event: nurture's exit reasons `stage:...` and `event:...`). opened, clicked and
unsubscribed count sent emails (each once however often it happened). Sequence rows (step
and variant empty) count enrollments started in the period and every email of the period.
Rates: per email sent; bounce rate per email sent or bounced; goal rate per enrolled."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.period import Period, rate

GOAL = "(e.exit_reason LIKE 'stage:%' OR e.exit_reason LIKE 'event:%')"
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
_SENDS = """
    FROM reporting.email_sends s
    WHERE s.workspace_id = :ws AND s.sequence_id IS NOT NULL
      AND ((s.sent_at >= :start AND s.sent_at < :end)
           OR (s.sent_at IS NULL AND s.bounced_at >= :start AND s.bounced_at < :end))
"""


async def nurture(session: AsyncSession, workspace_id: str, period: Period) -> list[dict[str, Any]]:
    params = {"ws": workspace_id, "start": period.start, "end": period.end}
    steps = await session.execute(
        text(
            f"""
            SELECT s.sequence_id, s.step_id, coalesce(s.variant_id, '') AS variant_id,
                   count(DISTINCT s.lead_id) AS enrolled,
                   count(DISTINCT s.lead_id) FILTER (WHERE g.lead_id IS NOT NULL)
                       AS reached_goal,
                   {_COUNTS}
            {
                _SENDS.replace(
                    "WHERE",
                    f"LEFT JOIN ({_GOALS}) g ON g.lead_id = s.lead_id"
                    " AND g.sequence_id = s.sequence_id WHERE",
                    1,
                )
            }
            GROUP BY 1, 2, 3
            """
        ),
        params,
    )
    enrolled = await session.execute(
        text(
            f"""
            SELECT e.sequence_id, count(*), count(*) FILTER (WHERE {GOAL})
              FROM reporting.enrollments e
             WHERE e.workspace_id = :ws AND e.started_at >= :start AND e.started_at < :end
             GROUP BY 1
            """
        ),
        params,
    )
    steps_rows = [(r.sequence_id, r.step_id or "", r.variant_id, _ints(r._mapping)) for r in steps]
    # A sequence's email counts are the sum of its steps' (each send has one step).
    totals: dict[str, dict[str, Any]] = {}
    empty = {"sent": 0, "opened": 0, "clicked": 0, "unsubscribed": 0, "bounced": 0}
    for sequence, _, _, counts in steps_rows:
        total = totals.setdefault(sequence, {"enrolled": 0, "reached_goal": 0, **empty})
        for k in empty:
            total[k] += counts[k]
    for sequence, n, goal in enrolled:
        totals.setdefault(sequence, {"enrolled": 0, "reached_goal": 0, **empty})
        totals[sequence] |= {"enrolled": int(n), "reached_goal": int(goal)}
    rows = [
        _with_rates({"sequence_id": seq, "step_id": "", "variant_id": ""} | counts)
        for seq, counts in totals.items()
    ]
    rows += [
        _with_rates({"sequence_id": seq, "step_id": step, "variant_id": variant} | counts)
        for seq, step, variant, counts in steps_rows
    ]
    rows.sort(key=lambda r: (r["sequence_id"], r["step_id"], r["variant_id"]))
    return rows


def _ints(mapping: Any) -> dict[str, int]:
    return {
        k: int(v) for k, v in mapping.items() if k not in ("sequence_id", "step_id", "variant_id")
    }


def _with_rates(row: dict[str, Any]) -> dict[str, Any]:
    order = ["enrolled", "sent", "opened", "clicked", "unsubscribed", "bounced", "reached_goal"]
    out = {k: row[k] for k in ("sequence_id", "step_id", "variant_id", *order)}
    return out | {
        "open_rate": rate(row["opened"], row["sent"]),
        "click_rate": rate(row["clicked"], row["sent"]),
        "unsubscribe_rate": rate(row["unsubscribed"], row["sent"]),
        "bounce_rate": rate(row["bounced"], row["sent"] + row["bounced"]),
        "goal_rate": rate(row["reached_goal"], row["enrolled"]),
    }
