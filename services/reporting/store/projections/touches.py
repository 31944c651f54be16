"""The touchpoint read models, from leadflow.touchpoints: every touch once (keyed by its
event id, so a replay adds nothing even after the inbox forgot it), volume per 15 minutes
and type, each identity key's first touch (folded into its lead's row), and email opens
and clicks on their send."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.buckets import VOLUME_SECONDS
from services.reporting.domain.keys import touch_key, utm
from services.reporting.domain.pseudonyms import Pseudonymize
from services.reporting.store.projections import credits, sends
from services.reporting.store.projections.keys import fold_first_touches
from shared.events import Envelope


def touch_row(e: Envelope, pseudonymize: Pseudonymize) -> dict[str, Any] | None:
    """The touch as stored (filed under its key, pseudonymized), or None: it names nobody."""
    data = e.data
    key = touch_key(data)
    if key is None:
        return None
    key = pseudonymize(e.workspace_id, key)
    source, medium, campaign = utm(data)
    return {
        "id": e.id,
        "workspace_id": e.workspace_id,
        "key": key,
        "at": e.occurred_at,
        "type": e.type,
        "source": source,
        "medium": medium,
        "campaign": campaign,
    }


async def apply(
    session: AsyncSession, todo: Sequence[Envelope], pseudonymize: Pseudonymize
) -> None:
    """Apply a poll's touchpoints (not claimed in the inbox: `touches` is theirs): one
    statement stores the touches new to `touches`, counts them into `touch_volume` and keeps each
    key's first touch in `key_touches` (array parameters, not one row of parameters per
    touch: docs/decisions/0037)."""
    rows = [r for r in (touch_row(e, pseudonymize) for e in todo) if r is not None]
    if not rows:
        return
    result = await session.execute(
        _APPLY, {column: [r[column] for r in rows] for column in _COLUMNS}
    )
    fresh: set[Any] = set()
    first_changed: list[tuple[str, str]] = []
    for touch_id, ws, key in result:
        if touch_id is not None:
            fresh.add(touch_id)
        else:
            first_changed.append((ws, key))
    if not fresh:
        return
    # A new UTM touch may change the credit of the lead its key points at.
    credits.mark_keys(
        session, {(r["workspace_id"], r["key"]) for r in rows if r["source"] and r["id"] in fresh}
    )
    await fold_first_touches(session, sorted(first_changed))
    await sends.apply(session, [e for e in todo if e.id in fresh])


_COLUMNS = ("id", "workspace_id", "key", "at", "type", "source", "medium", "campaign")

# Volume buckets as volume_bucket computes them (2000-01-01 UTC is a multiple of 15 minutes
# after the epoch). Keys' first touches: the earliest (time, then id as text) of the new
# touches, kept when earlier than the stored one; the keys whose first touch changed are
# returned (id NULL) beside the new touches' ids. Rows are written in key order.
_APPLY = text(
    f"""
    WITH fresh AS (
        INSERT INTO reporting.touches AS t ({", ".join(_COLUMNS)})
        SELECT * FROM unnest(CAST(:id AS uuid[]), CAST(:workspace_id AS text[]),
                             CAST(:key AS text[]), CAST(:at AS timestamptz[]),
                             CAST(:type AS text[]), CAST(:source AS text[]),
                             CAST(:medium AS text[]), CAST(:campaign AS text[]))
        ON CONFLICT DO NOTHING
        RETURNING {", ".join(_COLUMNS)}
    ),
    counted AS (
        INSERT INTO reporting.touch_volume AS v (workspace_id, bucket, type, touches)
        SELECT workspace_id,
               date_bin('{VOLUME_SECONDS} seconds', at, timestamptz '2000-01-01 00:00:00+00'),
               type, count(*)
          FROM fresh GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, bucket, type)
        DO UPDATE SET touches = v.touches + excluded.touches
    ),
    first AS (
        INSERT INTO reporting.key_touches AS k
            (workspace_id, key, first_at, first_id, source, medium, campaign)
        SELECT DISTINCT ON (workspace_id, key)
               workspace_id, key, at, id::text, source, medium, campaign
          FROM fresh ORDER BY workspace_id, key, at, id::text
        ON CONFLICT (workspace_id, key) DO UPDATE
           SET first_at = excluded.first_at, first_id = excluded.first_id,
               source = excluded.source, medium = excluded.medium, campaign = excluded.campaign
         WHERE (excluded.first_at, excluded.first_id) < (k.first_at, k.first_id)
        RETURNING workspace_id, key
    )
    SELECT id, NULL, NULL FROM fresh
    UNION ALL SELECT NULL, workspace_id, key FROM first
    """
)
