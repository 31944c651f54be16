"""How a sequence performs: per step and A/B variant, and for the whole sequence."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.store.tables import enrollments, sends


def _count(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0)).cast(Integer)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def sequence_results(
    session: AsyncSession, workspace_id: str, sequence_id: str
) -> dict[str, Any]:
    """{"enrollments": {...}, "steps": [{version, step_id, variant_id, sent, opened, ...}]}.

    Rates are per email sent; "reached_goal" counts enrollments that exited on one of the
    sequence's goals (a stage such as sql, or an event such as Demo Booked)."""

    rows = await session.execute(
        select(
            sends.c.version,
            sends.c.step_id,
            sends.c.variant_id,
            _count(sends.c.status == "sent").label("sent"),
            _count(sends.c.status == "bounced").label("bounced"),
            _count(and_(sends.c.status == "sent", sends.c.opened_at.is_not(None))).label("opened"),
            _count(and_(sends.c.status == "sent", sends.c.clicked_at.is_not(None))).label(
                "clicked"
            ),
            _count(sends.c.unsubscribed_at.is_not(None)).label("unsubscribed"),
            _count(sends.c.status.in_(("queued", "sending"))).label("pending"),
            _count(sends.c.status.in_(("expired", "capped", "suppressed", "failed"))).label(
                "not_sent"
            ),
        )
        .where(sends.c.workspace_id == workspace_id, sends.c.sequence_id == sequence_id)
        .group_by(sends.c.version, sends.c.step_id, sends.c.variant_id)
        .order_by(sends.c.version, sends.c.step_id, sends.c.variant_id)
    )
    steps = []
    for r in rows:
        row = dict(r._mapping)
        row |= {
            "open_rate": _rate(row["opened"], row["sent"]),
            "click_rate": _rate(row["clicked"], row["sent"]),
            "unsubscribe_rate": _rate(row["unsubscribed"], row["sent"]),
            "bounce_rate": _rate(row["bounced"], row["sent"] + row["bounced"]),
        }
        steps.append(row)
    return {"enrollments": await _totals(session, workspace_id, sequence_id), "steps": steps}


async def _totals(session: AsyncSession, workspace_id: str, sequence_id: str) -> dict[str, Any]:
    """Enrolled, active, completed, exited, reached_goal and goal_rate."""
    goal = enrollments.c.exit_reason.like("stage:%") | enrollments.c.exit_reason.like("event:%")
    totals = (
        await session.execute(
            select(
                func.count().label("enrolled"),
                _count(enrollments.c.status == "active").label("active"),
                _count(enrollments.c.status == "completed").label("completed"),
                _count(enrollments.c.status == "exited").label("exited"),
                _count(and_(enrollments.c.status == "exited", goal)).label("reached_goal"),
            ).where(
                enrollments.c.workspace_id == workspace_id,
                enrollments.c.sequence_id == sequence_id,
            )
        )
    ).one()
    counts = {k: int(v or 0) for k, v in totals._mapping.items()}
    return {**counts, "goal_rate": _rate(counts["reached_goal"], counts["enrolled"])}
