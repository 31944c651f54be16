"""The nurture read models, from leadflow.email-events (sends, bounces, unsubscribes,
enrollments) and the email.opened / email.clicked touchpoints. Each send's facts keep their
first time, whichever topic delivers first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.lead_model import merged_into
from services.reporting.models import email_sends, enrollments
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
    stmt = insert(email_sends)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[email_sends.c.workspace_id, email_sends.c.send_id],
            set_={
                **{w: func.coalesce(email_sends.c[w], stmt.excluded[w]) for w in _WHO},
                **{t: func.least(email_sends.c[t], stmt.excluded[t]) for t in _TIMES},
            },
        ),
        [rows[k] for k in sorted(rows)],
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
    stmt = insert(enrollments)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[enrollments.c.workspace_id, enrollments.c.enrollment_id],
            set_={
                "started_at": func.coalesce(enrollments.c.started_at, stmt.excluded.started_at),
                "ended_at": func.coalesce(enrollments.c.ended_at, stmt.excluded.ended_at),
                "exit_reason": func.coalesce(enrollments.c.exit_reason, stmt.excluded.exit_reason),
            },
        ),
        [rows[k] for k in sorted(rows)],
    )
    per_lead: dict[tuple[str, str], set[str]] = {}
    for r in rows.values():
        per_lead.setdefault((r["workspace_id"], r["lead_id"]), set()).add(r["sequence_id"])
    await session.execute(
        _ADD_SEQUENCES,
        [
            {"ws": ws, "lead": lead, "sequences": sorted(per_lead[ws, lead])}
            for ws, lead in sorted(per_lead)
        ],
    )


# The lead's row may not exist yet (its lifecycle events come on another topic): created
# bare, as lead_model does; rows that already list these sequences are left alone.
_ADD_SEQUENCES = text(
    """
    INSERT INTO reporting.leads AS l (workspace_id, lead_id, sequences)
    VALUES (:ws, :lead, CAST(:sequences AS text[]))
    ON CONFLICT (workspace_id, lead_id) DO UPDATE
       SET sequences = ARRAY(SELECT DISTINCT s FROM unnest(l.sequences || excluded.sequences) s
                             ORDER BY s)
     WHERE NOT coalesce(l.sequences, '{}') @> excluded.sequences
    """
)
