"""Merged leads: which lead a merged one went into, and folding a lead into another
(lead.merged): its stages, amounts, keys, first touch, enrollments and emails then count for
the lead it became, and it is left out of reports."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.stages import TIME_COLUMNS, LeadRef
from services.reporting.store.projections import credits
from services.reporting.store.tables import (
    email_sends,
    enrollments,
    lead_keys,
    leads,
    stage_entries,
)

TOUCH_COLUMNS = ("first_touch_at", "first_touch_id", "source", "medium", "campaign")


def earlier_wins(new: str, old: str, at: str, value: str) -> str:
    """SQL: `value` of the row whose `at` is earlier (order-independent amounts and touches)."""
    return (
        f"CASE WHEN {old}.{at} IS NULL OR {new}.{at} < {old}.{at} "
        f"THEN {new}.{value} ELSE {old}.{value} END"
    )


async def merged_into(session: AsyncSession, pairs: Iterable[LeadRef]) -> dict[LeadRef, str]:
    """(workspace, lead) -> the lead it was merged into, for those merged."""
    ordered = sorted(set(pairs))
    if not ordered:
        return {}
    # Arrays, not an IN list: one prepared statement whatever the batch; the partial index
    # of merged leads makes this a probe per lead into a tiny index.
    rows = await session.execute(
        _MERGED, {"workspaces": [p[0] for p in ordered], "leads": [p[1] for p in ordered]}
    )
    return {(ws, lead): into for ws, lead, into in rows}


_MERGED = text(
    """
    SELECT l.workspace_id, l.lead_id, l.merged_into
      FROM unnest(CAST(:workspaces AS text[]), CAST(:leads AS text[])) u(ws, lead_id)
      JOIN reporting.leads l ON l.workspace_id = u.ws AND l.lead_id = u.lead_id
     WHERE l.merged_into IS NOT NULL
    """
)


async def ensure_leads(session: AsyncSession, pairs: set[LeadRef]) -> None:
    """A bare row for each of these leads that has none yet."""
    if pairs:
        ordered = sorted(pairs)
        await session.execute(
            _ENSURE, {"ws": [p[0] for p in ordered], "leads": [p[1] for p in ordered]}
        )


_ENSURE = text(
    """
    INSERT INTO reporting.leads (workspace_id, lead_id)
    SELECT * FROM unnest(CAST(:ws AS text[]), CAST(:leads AS text[]))
    ON CONFLICT DO NOTHING
    """
)


async def merge(session: AsyncSession, workspace_id: str, into: str, folded: str) -> None:
    """`folded` became part of `into` (see the module's doc)."""
    if into == folded:
        return
    credits.mark_leads(session, [(workspace_id, into), (workspace_id, folded)])
    await ensure_leads(session, {(workspace_id, into), (workspace_id, folded)})
    params = {"ws": workspace_id, "into": into, "folded": folded}
    await session.execute(_FOLD_ROW, params)
    await session.execute(
        update(leads)
        .where(
            leads.c.workspace_id == workspace_id,
            or_(leads.c.lead_id == folded, leads.c.merged_into == folded),
        )
        .values(merged_into=into)
    )
    await session.execute(_MOVE_STAGE_ENTRIES, params)
    await session.execute(
        stage_entries.delete().where(
            stage_entries.c.workspace_id == workspace_id, stage_entries.c.lead_id == folded
        )
    )
    for table in (lead_keys, enrollments, email_sends):
        await session.execute(
            update(table)
            .where(table.c.workspace_id == workspace_id, table.c.lead_id == folded)
            .values(lead_id=into)
        )


def _fold_row_sql() -> str:
    """The row of `into` (a) given what the row of `folded` (b) has: earliest times, the
    amounts of the earliest entries, the earlier first touch, every sequence of both."""
    earliest = [f"{c} = least(a.{c}, b.{c})" for c in TIME_COLUMNS]
    # The folded lead's first touch wins when it is earlier (or the only one).
    touch_first = (
        "b.first_touch_at IS NOT NULL AND (a.first_touch_at IS NULL"
        " OR (b.first_touch_at, b.first_touch_id) < (a.first_touch_at, a.first_touch_id))"
    )
    touch = [f"{c} = CASE WHEN {touch_first} THEN b.{c} ELSE a.{c} END" for c in TOUCH_COLUMNS]
    sequences = [
        "sequences = ARRAY(SELECT DISTINCT s FROM unnest(a.sequences || b.sequences) s ORDER BY s)"
    ]
    amounts = [
        f"won_amount = {earlier_wins('b', 'a', 'won_at', 'won_amount')}",
        "opportunity_amount = "
        + earlier_wins("b", "a", "opportunity_entered_at", "opportunity_amount"),
    ]
    return (
        f"UPDATE reporting.leads a SET {', '.join(earliest + amounts + touch + sequences)}"
        " FROM reporting.leads b"
        " WHERE a.workspace_id = :ws AND a.lead_id = :into"
        " AND b.workspace_id = :ws AND b.lead_id = :folded"
    )


_FOLD_ROW = text(_fold_row_sql())
_MOVE_STAGE_ENTRIES = text(
    """
    INSERT INTO reporting.stage_entries (workspace_id, lead_id, stage, entered_at)
    SELECT workspace_id, :into, stage, entered_at FROM reporting.stage_entries
     WHERE workspace_id = :ws AND lead_id = :folded
    ON CONFLICT (workspace_id, lead_id, stage)
    DO UPDATE SET entered_at =
        least(reporting.stage_entries.entered_at, excluded.entered_at)
    """
)
