"""Email sends (`email_sends`), from leadflow.email-events (sends, bounces, unsubscribes) and
the email.opened / email.clicked touchpoints: each send's facts keep their first time,
whichever topic delivers first (the rules: domain/sends.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.sends import SEND_TIMES, WHO, ordered, redirect_leads, send_rows
from services.reporting.store.projections.merges import merged_into
from shared.events import Envelope


async def apply(session: AsyncSession, events: Sequence[Envelope]) -> None:
    """Send facts of these events (email.* events and the open/click touchpoints; others
    are skipped), first time each."""
    rows = send_rows(events)
    if not rows:
        return
    redirect = await merged_into(
        session, {(r["workspace_id"], r["lead_id"]) for r in rows.values() if r["lead_id"]}
    )
    redirect_leads(rows.values(), redirect)
    await session.execute(_SENDS, ordered(rows, _SEND_COLUMNS))


_SEND_COLUMNS = ("workspace_id", "send_id", *WHO, *SEND_TIMES)
_SEND_ARRAYS = [f"CAST(:{c} AS text[])" for c in ("workspace_id", "send_id", *WHO)]
_SEND_ARRAYS += [f"CAST(:{t} AS timestamptz[])" for t in SEND_TIMES]
_SEND_UPDATES = [f"{w} = coalesce(s.{w}, excluded.{w})" for w in WHO]
_SEND_UPDATES += [f"{t} = least(s.{t}, excluded.{t})" for t in SEND_TIMES]
# Each send's facts: who it was for (first known), and the first time of each.
_SENDS = text(
    f"""
    INSERT INTO reporting.email_sends AS s ({", ".join(_SEND_COLUMNS)})
    SELECT * FROM unnest({", ".join(_SEND_ARRAYS)})
    ON CONFLICT (workspace_id, send_id) DO UPDATE SET {", ".join(_SEND_UPDATES)}
    """
)
