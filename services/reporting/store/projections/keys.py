"""Identity keys pointing at leads (`lead_keys`), and each lead's first touch taken from
its keys' first touches (`key_touches`): a touch belongs to the lead its key points at,
whenever that link arrives (docs/decisions/0010)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from services.reporting.store.projections import credits

_LINK = text(
    """
    WITH new AS (
        SELECT * FROM unnest(CAST(:workspaces AS text[]), CAST(:keys AS text[]),
                             CAST(:leads AS text[])) n(workspace_id, key, lead_id)
    ),
    moved AS (  -- the leads keys move away from (read before the upsert)
        SELECT k.workspace_id, k.lead_id FROM reporting.lead_keys k
          JOIN new n ON n.workspace_id = k.workspace_id AND n.key = k.key
         WHERE k.lead_id <> n.lead_id
    ),
    linked AS (
        INSERT INTO reporting.lead_keys (workspace_id, key, lead_id)
        SELECT * FROM new ORDER BY 1, 2
        ON CONFLICT (workspace_id, key) DO UPDATE SET lead_id = excluded.lead_id
         WHERE reporting.lead_keys.lead_id <> excluded.lead_id
        RETURNING workspace_id, key
    )
    SELECT true, workspace_id, key FROM linked
    UNION ALL SELECT false, workspace_id, lead_id FROM moved
    """
)


async def link_keys(
    session: AsyncSession, linked: dict[tuple[str, str], str]
) -> list[tuple[str, str]]:
    """Point keys at leads; returns the keys that were linked or moved, whose first touch
    the caller folds into their lead (leads.upsert_leads). The credit of the leads on both ends
    is rebuilt."""
    if not linked:
        return []
    pairs = sorted(linked.items())
    rows = list(
        await session.execute(
            _LINK,
            {
                "workspaces": [ws for (ws, _), _ in pairs],
                "keys": [key for (_, key), _ in pairs],
                "leads": [lead for _, lead in pairs],
            },
        )
    )
    credits.mark_leads(session, [(ws, lead) for key_row, ws, lead in rows if not key_row])
    moved = [(ws, key) for key_row, ws, key in rows if key_row]
    credits.mark_keys(session, moved)
    return moved


_FOLD = text(
    """
    UPDATE reporting.leads l
       SET first_touch_at = c.first_at, first_touch_id = c.first_id,
           source = c.source, medium = c.medium, campaign = c.campaign
      FROM (SELECT DISTINCT ON (k.workspace_id, k.lead_id)
                   k.workspace_id, k.lead_id, t.first_at, t.first_id, t.source, t.medium, t.campaign
              FROM reporting.lead_keys k
              JOIN reporting.key_touches t ON t.workspace_id = k.workspace_id AND t.key = k.key
             WHERE (k.workspace_id, k.key) IN (SELECT * FROM unnest(:workspaces, :keys))
             ORDER BY k.workspace_id, k.lead_id, t.first_at, t.first_id) c
     WHERE l.workspace_id = c.workspace_id AND l.lead_id = c.lead_id
       AND (l.first_touch_at IS NULL
            OR (c.first_at, c.first_id) < (l.first_touch_at, l.first_touch_id))
    """
).bindparams(bindparam("workspaces", type_=ARRAY(String)), bindparam("keys", type_=ARRAY(String)))


async def fold_first_touches(session: AsyncSession, pairs: Sequence[tuple[Any, ...]]) -> None:
    """Give the leads these (workspace, key) pairs point at their keys' first touch, when it
    is earlier than the one they have."""
    if pairs:
        credits.mark_keys(session, pairs)
        await session.execute(
            _FOLD, {"workspaces": [p[0] for p in pairs], "keys": [p[1] for p in pairs]}
        )
