"""The lead read models, from leadflow.lead-events: stage entries, each lead's row (when it
reached each stage, deal amounts, first touch) and its identity keys; lead.merged folds a
lead into the one it became. What the events change is decided in domain/lead_events.py and
domain/stages.py; this writes it.

Every write takes the earliest time (or the amount of the earliest entry), so the order of
events does not matter and a replay changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.lead_events import lead_changes, named_leads
from services.reporting.domain.pseudonyms import Pseudonymize
from services.reporting.domain.stages import (
    EMPTY_ROW,
    ROW_COLUMNS,
    TIME_COLUMNS,
    LeadRef,
    Move,
    first_entries,
    lead_rows,
)
from services.reporting.store.projections import credits
from services.reporting.store.projections.keys import link_keys
from services.reporting.store.projections.merges import (
    TOUCH_COLUMNS,
    earlier_wins,
    merge,
    merged_into,
)
from shared.events import Envelope


async def apply(
    session: AsyncSession, events: Sequence[Envelope], pseudonymize: Pseudonymize
) -> None:
    """Apply lead events already claimed in the inbox (new to this service)."""
    if not events:
        return
    changes = lead_changes(events, await merged_into(session, named_leads(events)), pseudonymize)
    rows = await _stage_entries(session, changes.moves)
    moved = await link_keys(session, changes.links)
    await _upsert_leads(session, rows, changes.linked_leads(), moved)
    for ws, into, folded in changes.merges:
        await merge(session, ws, into, folded)


async def _stage_entries(session: AsyncSession, moves: list[Move]) -> dict[LeadRef, dict[str, Any]]:
    """Write the stage entries; returns, per lead, what they mean for its row (the stage
    times it reached, amounts), written with the rest of the row by _upsert_leads."""
    first = first_entries(moves)
    if not first:
        return {}
    entries = sorted(first.items())
    await session.execute(
        _STAGE_ENTRIES,
        {
            "ws": [ws for (ws, _, _), _ in entries],
            "leads": [lead for (_, lead, _), _ in entries],
            "stages": [stage for (_, _, stage), _ in entries],
            "at": [at for _, (at, _) in entries],
        },
    )
    rows = lead_rows(first)
    credits.mark_leads(session, rows)
    return rows


_STAGE_ENTRIES = text(
    """
    INSERT INTO reporting.stage_entries AS s (workspace_id, lead_id, stage, entered_at)
    SELECT * FROM unnest(CAST(:ws AS text[]), CAST(:leads AS text[]), CAST(:stages AS text[]),
                         CAST(:at AS timestamptz[]))
    ON CONFLICT (workspace_id, lead_id, stage)
    DO UPDATE SET entered_at = least(s.entered_at, excluded.entered_at)
    """
)


async def _upsert_leads(
    session: AsyncSession,
    stages: dict[LeadRef, dict[str, Any]],
    linked: set[LeadRef],
    moved_keys: list[tuple[str, str]],
) -> None:
    """Each lead's row in one statement: created if new (a lead named by its keys only, too),
    its stage times and amounts from `stages`, and the first touch of `moved_keys` (keys
    just linked to it) when earlier than its own. A row that would not change is not
    rewritten (every version of a lead's row writes each of its indexes)."""
    leads = sorted(set(stages) | linked)
    if not leads:
        return
    rows = [stages.get(lead) or EMPTY_ROW for lead in leads]
    params: dict[str, Any] = {c: [r[c] for r in rows] for c in ROW_COLUMNS}
    params["workspace_id"] = [ws for ws, _ in leads]
    params["lead_id"] = [lead for _, lead in leads]
    params["key_ws"] = [ws for ws, _ in moved_keys]
    params["keys"] = [key for _, key in moved_keys]
    await session.execute(_UPSERT_LEADS, params)


def _upsert_updates() -> tuple[list[str], list[str]]:
    """(SET clauses, conditions of a change) of the lead rows' upsert."""
    updates = [f"{c} = least(l.{c}, excluded.{c})" for c in TIME_COLUMNS]
    updates += [
        "won_amount = " + earlier_wins("excluded", "l", "won_at", "won_amount"),
        "opportunity_amount = "
        + earlier_wins("excluded", "l", "opportunity_entered_at", "opportunity_amount"),
    ]
    touch_first = (
        "excluded.first_touch_at IS NOT NULL AND (l.first_touch_at IS NULL OR"
        " (excluded.first_touch_at, excluded.first_touch_id)"
        " < (l.first_touch_at, l.first_touch_id))"
    )
    updates += [
        f"{c} = CASE WHEN {touch_first} THEN excluded.{c} ELSE l.{c} END" for c in TOUCH_COLUMNS
    ]
    # Something changes iff a time is new or earlier (amounts go with their times), or
    # the first touch is earlier.
    changes = [
        f"excluded.{c} IS NOT NULL AND (l.{c} IS NULL OR excluded.{c} < l.{c})"
        for c in TIME_COLUMNS
    ]
    changes.append(touch_first)
    return updates, changes


def _upsert_leads_sql() -> str:
    arrays = ", ".join(
        f"CAST(:{c} AS {'float8' if c.endswith('_amount') else 'timestamptz'}[])"
        for c in ROW_COLUMNS
    )
    updates, changes = _upsert_updates()
    return f"""
    WITH touch AS (  -- the earliest first touch of each lead's just linked keys
        SELECT DISTINCT ON (k.workspace_id, k.lead_id)
               k.workspace_id, k.lead_id, t.first_at, t.first_id, t.source, t.medium, t.campaign
          FROM reporting.lead_keys k
          JOIN reporting.key_touches t ON t.workspace_id = k.workspace_id AND t.key = k.key
         WHERE (k.workspace_id, k.key) IN
               (SELECT * FROM unnest(CAST(:key_ws AS text[]), CAST(:keys AS text[])))
         ORDER BY k.workspace_id, k.lead_id, t.first_at, t.first_id
    )
    INSERT INTO reporting.leads AS l
        (workspace_id, lead_id, {", ".join(ROW_COLUMNS)}, {", ".join(TOUCH_COLUMNS)})
    SELECT u.*, t.first_at, t.first_id, t.source, t.medium, t.campaign
      FROM unnest(CAST(:workspace_id AS text[]), CAST(:lead_id AS text[]), {arrays})
           u(workspace_id, lead_id, {", ".join(ROW_COLUMNS)})
      LEFT JOIN touch t ON t.workspace_id = u.workspace_id AND t.lead_id = u.lead_id
     ORDER BY u.workspace_id, u.lead_id
    ON CONFLICT (workspace_id, lead_id) DO UPDATE SET {", ".join(updates)}
     WHERE {" OR ".join(f"({c})" for c in changes)}
    """


_UPSERT_LEADS = text(_upsert_leads_sql())
