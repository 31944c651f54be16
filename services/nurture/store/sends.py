"""The sends table as the delivery worker reads and writes it: due sends taken FOR UPDATE
SKIP LOCKED, what the delivery decision needs loaded in a few statements per batch, the
outcomes written one statement per kind of change, and the guarded updates of a claim.

Functions take a session (or a unit of work, to add events to its outbox); they never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import (
    Boolean,
    CursorResult,
    SmallInteger,
    String,
    Text,
    bindparam,
    case,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.domain.config import NurtureConfig
from services.nurture.domain.delivery import (
    RATE_PERIOD,
    Batch,
    DueSend,
    Lead,
    TemplateSource,
    address,
)
from services.nurture.domain.engine import SendEmail
from services.nurture.store.tables import leads, sends, sequences, suppressions, templates
from services.nurture.store.tables import workspace_settings as ws

log = logging.getLogger(__name__)

_LOCK_SPACE = 7_301_005  # advisory lock namespace: nurture delivery claims, per workspace


def due_send(row: RowMapping) -> DueSend:
    return DueSend(
        id=row["id"],
        workspace_id=row["workspace_id"],
        lead_id=row["lead_id"],
        sequence_id=row["sequence_id"],
        version=row["version"],
        step_id=row["step_id"],
        variant_id=row["variant_id"],
        template_id=row["template_id"],
        to_email=row["to_email"],
        message_id=row["message_id"],
        deadline=row["deadline"],
        attempts=int(row["attempts"]),
    )


def _of_active_sequences() -> Any:
    # A paused sequence's sends wait (resume extends their deadlines).
    return sends.c.sequence_id.in_(select(sequences.c.id).where(sequences.c.status == "active"))


async def take_due(session: AsyncSession, *, now: datetime, limit: int) -> list[DueSend]:
    """Up to ``limit`` due queued sends of active sequences, locked (SKIP LOCKED: several
    workers never take the same row), oldest first; then the advisory lock of each of their
    workspaces (in a fixed order: no deadlock), so that caps and rates counted afterwards
    include every other worker's committed claims."""
    rows = (
        (
            await session.execute(
                select(sends)
                .where(
                    sends.c.status == "queued",
                    sends.c.next_attempt_at <= now,
                    _of_active_sequences(),
                )
                .order_by(sends.c.next_attempt_at, sends.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .mappings()
        .all()
    )
    for wid in sorted({r["workspace_id"] for r in rows}):
        await session.execute(select(func.pg_advisory_xact_lock(_LOCK_SPACE, func.hashtext(wid))))
    return [due_send(r) for r in rows]


def _config(raw: Any, workspace_id: str) -> NurtureConfig:
    if raw is None:
        return NurtureConfig()
    try:
        return NurtureConfig.model_validate(raw)
    except ValidationError:
        log.exception("invalid nurture settings of workspace %s; using defaults", workspace_id)
        return NurtureConfig()


def _in_flight_at() -> Any:
    """When a send counts for caps and rate: sent_at once sent, claimed_at while sending."""
    return func.coalesce(sends.c.sent_at, sends.c.claimed_at)


async def load_batch(session: AsyncSession, due: Sequence[DueSend], now: datetime) -> Batch:
    """What ``domain.delivery.decide`` needs for these sends."""
    batch = Batch()
    workspaces = sorted({s.workspace_id for s in due})
    pairs = sorted({(s.workspace_id, s.lead_id) for s in due})
    for wid, raw in await session.execute(
        select(ws.c.workspace_id, ws.c.config).where(ws.c.workspace_id.in_(workspaces))
    ):
        batch.configs[wid] = _config(raw, wid)
    for wid in workspaces:
        batch.configs.setdefault(wid, NurtureConfig())
    await _load_leads(session, batch, pairs)
    await _load_templates(session, batch, sorted({s.template_id for s in due}))
    await _load_suppressed(session, batch, due)
    await _load_history(session, batch, pairs, now)
    await _load_rate(session, batch, workspaces, now)
    return batch


async def _load_leads(session: AsyncSession, batch: Batch, pairs: list[tuple[str, str]]) -> None:
    for lead in (
        await session.execute(
            select(leads).where(tuple_(leads.c.workspace_id, leads.c.lead_id).in_(pairs))
        )
    ).mappings():
        batch.leads[(lead["workspace_id"], lead["lead_id"])] = Lead(
            email=lead["email"],
            traits=lead["traits"],
            score=lead["score"],
            fit=lead["fit"],
            engagement=lead["engagement"],
            stage=lead["stage"],
        )


async def _load_templates(session: AsyncSession, batch: Batch, ids: list[str]) -> None:
    for tid, subject, html, text in await session.execute(
        select(templates.c.id, templates.c.subject, templates.c.html, templates.c.text).where(
            templates.c.id.in_(ids)
        )
    ):
        batch.templates[tid] = TemplateSource(subject=subject, html=html, text=text)


async def _load_suppressed(session: AsyncSession, batch: Batch, due: Sequence[DueSend]) -> None:
    addresses = sorted(
        {
            (s.workspace_id, to.lower())
            for s in due
            if (to := address(s, batch.leads.get((s.workspace_id, s.lead_id))))
        }
    )
    if not addresses:
        return
    for wid, email, reason in await session.execute(
        select(suppressions.c.workspace_id, suppressions.c.email, suppressions.c.reason).where(
            tuple_(suppressions.c.workspace_id, suppressions.c.email).in_(addresses)
        )
    ):
        batch.suppressed[(wid, email)] = reason


async def _load_history(
    session: AsyncSession, batch: Batch, pairs: list[tuple[str, str]], now: datetime
) -> None:
    """The leads' sends within the longest cap period (sent or in flight)."""
    longest = max(
        (cap.per for config in batch.configs.values() for cap in config.caps),
        default=timedelta(0),
    )
    if longest <= timedelta(0):
        return
    at = _in_flight_at()
    for wid, lead_id, when in await session.execute(
        select(sends.c.workspace_id, sends.c.lead_id, at).where(
            tuple_(sends.c.workspace_id, sends.c.lead_id).in_(pairs),
            sends.c.status.in_(("sent", "sending")),
            at > now - longest,
        )
    ):
        batch.history.setdefault((wid, lead_id), []).append(when)


async def _load_rate(
    session: AsyncSession, batch: Batch, workspaces: list[str], now: datetime
) -> None:
    """The workspaces' sends of the last minute (sent or in flight)."""
    at = _in_flight_at()
    for wid, when in await session.execute(
        select(sends.c.workspace_id, at).where(
            sends.c.workspace_id.in_(workspaces),
            sends.c.status.in_(("sent", "sending")),
            at > now - RATE_PERIOD,
        )
    ):
        batch.rate.setdefault(wid, []).append(when)


class Updates:
    """Row updates of one claim transaction, written at the end with one executemany per
    set of changed columns (the rows are locked by the claim's FOR UPDATE)."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def set(self, send_id: str, **values: Any) -> None:
        self._groups.setdefault(tuple(sorted(values)), []).append({"_id": send_id, **values})

    async def write(self, session: AsyncSession) -> None:
        for columns, rows in self._groups.items():
            stmt = (
                update(sends)
                .where(sends.c.id == bindparam("_id"))
                .values({c: bindparam(c) for c in columns})
            )
            await session.execute(stmt, sorted(rows, key=lambda r: str(r["_id"])))


async def set_values(session: AsyncSession, send_id: str, **values: Any) -> None:
    await session.execute(update(sends).where(sends.c.id == send_id).values(**values))


def claimed(send_id: str, attempts: int) -> Any:
    """The guard of every update after a claim: still ours (``sending``, same attempt)."""
    return (sends.c.id == send_id) & (sends.c.status == "sending") & (sends.c.attempts == attempts)


async def guarded(session: AsyncSession, send_id: str, attempts: int, **values: Any) -> bool:
    """Update a claimed send if the claim still holds; whether it did."""
    result = await session.execute(update(sends).where(claimed(send_id, attempts)).values(**values))
    return cast(CursorResult[Any], result).rowcount == 1


async def requeue_unmarked(
    session: AsyncSession, send_id: str, attempts: int, marker: str, at: datetime
) -> None:
    """Give a claim back (due at ``at``) when it surely has no in-data ``marker``."""
    await session.execute(
        update(sends)
        .where(claimed(send_id, attempts), sends.c.last_error.is_distinct_from(marker))
        .values(status="queued", next_attempt_at=at)
    )


def _unnest(**arrays: tuple[Any, list[Any]]) -> Any:
    """``unnest(:a, :b, ...) AS v(a, b, ...)``: one parameter per column, whatever the count."""
    params = [
        bindparam(name, values, type_=ARRAY(type_)) for name, (type_, values) in arrays.items()
    ]
    return func.unnest(*params).table_valued(*arrays).render_derived(name="v")


async def mark_and_set_sent(
    session: AsyncSession,
    claims: Sequence[tuple[DueSend, int, str, bool, str | None]],
    *,
    marker: str,
    now: datetime,
) -> set[str]:
    """In ONE statement, each guarded by its claim ``(send, attempts, to, sent, note)``:
    ``sent=False`` sets the in-data ``marker`` (refused when the address was suppressed
    since the claim: no DATA then); ``sent=True`` records ``sent`` with ``note`` as
    last_error. Returns the ids of the rows it changed."""
    if not claims:
        return set()
    v = _unnest(
        ids=(String, [c[0].id for c in claims]),
        attempts=(SmallInteger, [c[1] for c in claims]),
        sent=(Boolean, [c[3] for c in claims]),
        notes=(Text, [c[4] for c in claims]),
        emails=(String, [c[2].lower() for c in claims]),
    )
    suppressed_since_claim = (
        select(suppressions.c.email)
        .where(
            suppressions.c.workspace_id == sends.c.workspace_id, suppressions.c.email == v.c.emails
        )
        .exists()
    )
    result = await session.execute(
        update(sends)
        .where(
            sends.c.id == v.c.ids,
            sends.c.attempts == v.c.attempts,
            sends.c.status == "sending",
            # An unsubscribe, bounce or suppression committed since the claim: no DATA.
            v.c.sent | ~suppressed_since_claim,
        )
        .values(
            status=case((v.c.sent, "sent"), else_=sends.c.status),
            sent_at=case((v.c.sent, now), else_=sends.c.sent_at),
            last_error=case((v.c.sent, v.c.notes), else_=marker),
        )
        .returning(sends.c.id)
    )
    return set(result.scalars())


async def suppression_of(session: AsyncSession, workspace_id: str, email: str) -> str | None:
    """The reason the address is suppressed in the workspace, or None."""
    reason: str | None = await session.scalar(
        select(suppressions.c.reason).where(
            suppressions.c.workspace_id == workspace_id, suppressions.c.email == email.lower()
        )
    )
    return reason


async def suppress_bounced(
    session: AsyncSession, workspace_id: str, email: str, reply: str
) -> None:
    await session.execute(
        pg_insert(suppressions)
        .values(workspace_id=workspace_id, email=email.lower(), reason="bounced", detail=reply)
        .on_conflict_do_nothing()
    )


async def take_interrupted(session: AsyncSession, cutoff: datetime) -> list[RowMapping]:
    """Sends left in ``sending`` since before ``cutoff`` (or without claimed_at), locked."""
    return list(
        (
            await session.execute(
                select(sends)
                .where(
                    sends.c.status == "sending",
                    (sends.c.claimed_at < cutoff) | sends.c.claimed_at.is_(None),
                )
                .with_for_update(skip_locked=True)
            )
        )
        .mappings()
        .all()
    )


async def next_due(session: AsyncSession) -> datetime | None:
    """When the earliest queued send of an active sequence is due (None: no such send)."""
    due: datetime | None = await session.scalar(
        select(sends.c.next_attempt_at)
        .where(sends.c.status == "queued", _of_active_sequences())
        .order_by(sends.c.next_attempt_at)
        .limit(1)
    )
    return due


async def queue(
    session: AsyncSession,
    *,
    send_id: str,
    send_key: str,
    enrollment: Row[Any],
    step: SendEmail,
    deadline: datetime,
) -> None:
    """A queued send for an enrollment's email step (once per send key)."""
    await session.execute(
        pg_insert(sends)
        .values(
            id=send_id,
            send_key=send_key,
            workspace_id=enrollment.workspace_id,
            enrollment_id=enrollment.id,
            lead_id=enrollment.lead_id,
            sequence_id=enrollment.sequence_id,
            version=enrollment.version,
            step_id=step.step_id,
            variant_id=step.variant_id,
            template_id=step.template_id,
            message_id=f"<{send_id}@leadflow>",
            status="queued",
            not_before=step.not_before,
            next_attempt_at=step.not_before,
            deadline=deadline,
        )
        .on_conflict_do_nothing(index_elements=[sends.c.send_key])
    )
