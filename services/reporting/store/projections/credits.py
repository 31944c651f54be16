"""Attribution credit kept per lead and conversion (`reporting.lead_credits`), so the
attribution report is one index range scan instead of reading every converting lead's keys
and touches per request (docs/decisions/0012).

A lead's rows are a pure function of its row in `leads`, its keys and their UTM touches:
for each of MQL, SQL and customer it reached, one row per UTM touch at or before that time
(its share of linear credit, and whether it is the last), or a single `(none)` row without
one; each row also carries the lead's first-touch source and campaign. Whatever changes one
of those inputs marks the lead (or the key) and the rows are rebuilt from the current state
once per batch, so the order of events and replays change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from services.reporting.domain.period import NO_TOUCH, NO_VALUE
from services.reporting.domain.stages import CONVERSIONS

_PENDING = "reporting_credit_refresh"


def rebuild_sql(target: str) -> str:
    """SQL deleting and rebuilding the credit rows of the leads `target` selects
    (columns ws, lead_id)."""
    stages = ", ".join(f"('{s}', l.{s}_at)" for s in CONVERSIONS)
    first = "CASE WHEN l.first_touch_at IS NULL THEN '{0}' ELSE coalesce(l.{1}, '{2}') END"
    return f"""
    WITH target AS MATERIALIZED (SELECT DISTINCT ws, lead_id FROM ({target}) x(ws, lead_id)),
    gone AS (
        DELETE FROM reporting.lead_credits c USING target
         WHERE c.workspace_id = target.ws AND c.lead_id = target.lead_id
    )
    INSERT INTO reporting.lead_credits
        (workspace_id, lead_id, stage, at, first_source, first_campaign, source, campaign,
         last, share)
    SELECT l.workspace_id, l.lead_id, s.stage, s.at,
           {first.format(NO_TOUCH, "source", NO_VALUE)},
           {first.format(NO_TOUCH, "campaign", NO_VALUE)},
           coalesce(u.source, '{NO_VALUE}'), coalesce(u.campaign, '{NO_VALUE}'),
           coalesce(u.last, true), coalesce(1.0 / u.n, 1.0)
      FROM target
      JOIN reporting.leads l ON l.workspace_id = target.ws AND l.lead_id = target.lead_id
       AND l.merged_into IS NULL
     CROSS JOIN LATERAL (VALUES {stages}) s(stage, at)
      LEFT JOIN LATERAL (
          SELECT t.source, t.campaign, count(*) OVER () AS n,
                 row_number() OVER (ORDER BY t.at DESC, t.id::text DESC) = 1 AS last
            FROM reporting.lead_keys k
            JOIN reporting.touches t ON t.workspace_id = k.workspace_id AND t.key = k.key
                 AND t.source IS NOT NULL AND t.at <= s.at
           WHERE k.workspace_id = l.workspace_id AND k.lead_id = l.lead_id
      ) u ON true
     WHERE s.at IS NOT NULL
    """


_REBUILD = text(
    rebuild_sql(
        "SELECT * FROM unnest(CAST(:lead_ws AS text[]), CAST(:lead_ids AS text[])) u(ws, lead_id)"
        " UNION ALL SELECT k.workspace_id, k.lead_id FROM reporting.lead_keys k"
        " WHERE (k.workspace_id, k.key) IN"
        " (SELECT * FROM unnest(CAST(:key_ws AS text[]), CAST(:keys AS text[])))"
    )
).bindparams(
    *(bindparam(name, type_=ARRAY(String)) for name in ("lead_ws", "lead_ids", "key_ws", "keys"))
)


def _pending(session: AsyncSession) -> dict[str, set[tuple[str, str]]]:
    pending: dict[str, set[tuple[str, str]]] = session.info.setdefault(
        _PENDING, {"leads": set(), "keys": set()}
    )
    return pending


def mark_leads(session: AsyncSession, pairs: Iterable[tuple[Any, ...]]) -> None:
    """These (workspace, lead) need their credit rebuilt before the batch commits."""
    _pending(session)["leads"].update((str(p[0]), str(p[1])) for p in pairs)


def mark_keys(session: AsyncSession, pairs: Iterable[tuple[Any, ...]]) -> None:
    """The leads these (workspace, key) point at when the batch ends need it too."""
    _pending(session)["keys"].update((str(p[0]), str(p[1])) for p in pairs)


async def flush(session: AsyncSession) -> None:
    """Rebuild the credit of every marked lead, in one statement."""
    pending = session.info.pop(_PENDING, None)
    if not pending or not (pending["leads"] or pending["keys"]):
        return
    leads, keys = sorted(pending["leads"]), sorted(pending["keys"])
    await session.execute(
        _REBUILD,
        {
            "lead_ws": [p[0] for p in leads],
            "lead_ids": [p[1] for p in leads],
            "key_ws": [p[0] for p in keys],
            "keys": [p[1] for p in keys],
        },
    )
