"""Enrollments in nurture sequences (`enrollments`, and the sequences kept on each lead's
row), from the enrollment.* events on leadflow.email-events (the rules: domain/sends.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.sends import (
    ENROLLMENT_COLUMNS,
    enrollment_rows,
    ordered,
    redirect_leads,
)
from services.reporting.store.projections.merges import merged_into
from shared.events import Envelope


async def apply(session: AsyncSession, events: Sequence[Envelope]) -> None:
    """Apply enrollment events already claimed in the inbox."""
    rows = enrollment_rows(events)
    if not rows:
        return
    redirect_leads(
        rows.values(),
        await merged_into(session, {(r["workspace_id"], r["lead_id"]) for r in rows.values()}),
    )
    await session.execute(_ENROLLMENTS, ordered(rows, ENROLLMENT_COLUMNS))
    pairs = sorted({(r["workspace_id"], r["lead_id"], r["sequence_id"]) for r in rows.values()})
    await session.execute(
        _ADD_SEQUENCES,
        {
            "ws": [p[0] for p in pairs],
            "leads": [p[1] for p in pairs],
            "sequences": [p[2] for p in pairs],
        },
    )


_ENROLLMENTS = text(
    """
    INSERT INTO reporting.enrollments AS e
        (workspace_id, enrollment_id, lead_id, sequence_id, started_at, ended_at, exit_reason)
    SELECT * FROM unnest(CAST(:workspace_id AS text[]), CAST(:enrollment_id AS text[]),
                         CAST(:lead_id AS text[]), CAST(:sequence_id AS text[]),
                         CAST(:started_at AS timestamptz[]), CAST(:ended_at AS timestamptz[]),
                         CAST(:exit_reason AS text[]))
    ON CONFLICT (workspace_id, enrollment_id) DO UPDATE
       SET started_at = coalesce(e.started_at, excluded.started_at),
           ended_at = coalesce(e.ended_at, excluded.ended_at),
           exit_reason = coalesce(e.exit_reason, excluded.exit_reason)
    """
)

# Each lead's sequences of the batch (one row per lead, sorted). The lead's row may not
# exist yet (its lifecycle events come on another topic): created bare, as the lead projection
# does; rows that already list these sequences are left alone.
_ADD_SEQUENCES = text(
    """
    INSERT INTO reporting.leads AS l (workspace_id, lead_id, sequences)
    SELECT ws, lead_id, array_agg(sequence_id ORDER BY sequence_id)
      FROM unnest(CAST(:ws AS text[]), CAST(:leads AS text[]), CAST(:sequences AS text[]))
           u(ws, lead_id, sequence_id)
     GROUP BY ws, lead_id ORDER BY ws, lead_id
    ON CONFLICT (workspace_id, lead_id) DO UPDATE
       SET sequences = ARRAY(SELECT DISTINCT s FROM unnest(l.sequences || excluded.sequences) s
                             ORDER BY s)
     WHERE NOT coalesce(l.sequences, '{}') @> excluded.sequences
    """
)
