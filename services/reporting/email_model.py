"""The nurture read models, from leadflow.email-events (sends, bounces, unsubscribes,
enrollments) and the email.opened / email.clicked touchpoints. Each send's facts keep their
first time, whichever topic delivers first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.lead_model import merged_into
from shared.db import UnitOfWork
from shared.events import Envelope

SEND_FACTS = {
    "email.sent": "sent_at",
    "email.bounced": "bounced_at",
    "email.opened": "opened_at",
    "email.clicked": "clicked_at",
    "email.unsubscribed": "unsubscribed_at",
}
_TIMES = list(dict.fromkeys(SEND_FACTS.values()))
_WHO = ("lead_id", "sequence_id", "step_id", "variant_id")


async def apply_email_events(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
    await apply_claimed(uow.session, await uow.claim_batch(envelopes))


async def apply_claimed(session: AsyncSession, todo: Sequence[Envelope]) -> None:
    """Apply email and enrollment events already claimed in the inbox."""
    await apply_engagement(session, todo)
    await _enrollments(session, [e for e in todo if e.type.startswith("enrollment.")])


async def apply_engagement(session: AsyncSession, events: Sequence[Envelope]) -> None:
    """Send facts (email.* events and the open/click touchpoints), first time each."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for e in events:
        column = SEND_FACTS.get(e.type)
        send_id = e.payload.get("send_id")
        if column is None or not send_id:
            continue
        if e.type == "email.bounced" and e.payload.get("kind") == "soft":
            continue  # retried by nurture: not a bounce of the send
        row = rows.setdefault(
            (e.workspace_id, str(send_id)),
            {"workspace_id": e.workspace_id, "send_id": str(send_id)}
            | dict.fromkeys(_WHO)
            | dict.fromkeys(_TIMES),
        )
        for who in _WHO:
            if row[who] is None and e.payload.get(who) is not None:
                row[who] = str(e.payload[who])
        row[column] = e.occurred_at if row[column] is None else min(row[column], e.occurred_at)
    if not rows:
        return
    redirect = await merged_into(
        session, {(r["workspace_id"], r["lead_id"]) for r in rows.values() if r["lead_id"]}
    )
    for r in rows.values():
        r["lead_id"] = redirect.get((r["workspace_id"], r["lead_id"]), r["lead_id"])
    ordered = [rows[k] for k in sorted(rows)]
    await session.execute(_SENDS, {c: [r[c] for r in ordered] for c in _SEND_COLUMNS})


_SEND_COLUMNS = ("workspace_id", "send_id", *_WHO, *_TIMES)
_SEND_ARRAYS = [f"CAST(:{c} AS text[])" for c in ("workspace_id", "send_id", *_WHO)]
_SEND_ARRAYS += [f"CAST(:{t} AS timestamptz[])" for t in _TIMES]
_SEND_UPDATES = [f"{w} = coalesce(s.{w}, excluded.{w})" for w in _WHO]
_SEND_UPDATES += [f"{t} = least(s.{t}, excluded.{t})" for t in _TIMES]
# Each send's facts: who it was for (first known), and the first time of each.
_SENDS = text(
    f"""
    INSERT INTO reporting.email_sends AS s ({", ".join(_SEND_COLUMNS)})
    SELECT * FROM unnest({", ".join(_SEND_ARRAYS)})
    ON CONFLICT (workspace_id, send_id) DO UPDATE SET {", ".join(_SEND_UPDATES)}
    """
)


async def _enrollments(session: AsyncSession, events: list[Envelope]) -> None:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for e in events:
        p = e.payload
        if not p.get("enrollment_id") or not p.get("sequence_id"):
            continue
        row = rows.setdefault(
            (e.workspace_id, str(p["enrollment_id"])),
            {
                "workspace_id": e.workspace_id,
                "enrollment_id": str(p["enrollment_id"]),
                "lead_id": str(p["lead_id"]),
                "sequence_id": str(p["sequence_id"]),
                "started_at": None,
                "ended_at": None,
                "exit_reason": None,
            },
        )
        if e.type == "enrollment.started":
            row["started_at"] = e.occurred_at
        else:  # exited or completed: one end per enrollment
            row["ended_at"] = e.occurred_at
            row["exit_reason"] = (
                "completed" if e.type == "enrollment.completed" else p.get("reason")
            )
    if not rows:
        return
    redirect = await merged_into(
        session, {(r["workspace_id"], r["lead_id"]) for r in rows.values()}
    )
    for r in rows.values():
        r["lead_id"] = redirect.get((r["workspace_id"], r["lead_id"]), r["lead_id"])
    ordered = [rows[k] for k in sorted(rows)]
    await session.execute(_ENROLLMENTS, {c: [r[c] for r in ordered] for c in _ENROLLMENT_COLUMNS})
    pairs = sorted({(r["workspace_id"], r["lead_id"], r["sequence_id"]) for r in rows.values()})
    await session.execute(
        _ADD_SEQUENCES,
        {
            "ws": [p[0] for p in pairs],
            "leads": [p[1] for p in pairs],
            "sequences": [p[2] for p in pairs],
        },
    )


_ENROLLMENT_COLUMNS = (
    "workspace_id",
    "enrollment_id",
    "lead_id",
    "sequence_id",
    "started_at",
    "ended_at",
    "exit_reason",
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
# exist yet (its lifecycle events come on another topic): created bare, as lead_model
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
