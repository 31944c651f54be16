"""Moving enrollments along their sequence: durable in PostgreSQL, safe with several
workers (due enrollments are claimed FOR UPDATE SKIP LOCKED) and across crashes (nothing
is remembered outside the database).

For each due enrollment of an active sequence, the step engine (sequences.advance) decides:
wait (the enrollment sleeps until then), send (a queued send row, keyed by enrollment and
step so it can exist once, due at the first moment inside the lead's send window), or
completed. Paused sequences' enrollments are not picked: resuming continues them where they
were, nobody repeated or skipped. Delivery (delivery.py) takes the queued sends.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from services.nurture import enrollment
from services.nurture import sequences as seq
from services.nurture.config import NurtureConfig
from services.nurture.models import enrollments, leads, sends, sequence_versions, workspace_settings
from services.nurture.models import sequences as sequences_table
from services.nurture.timing import resolve_zone
from shared.db import UnitOfWork
from shared.events import utcnow
from shared.signals import sleep_unless

log = logging.getLogger(__name__)
_SENDS = uuid.UUID("5b7e2a91-3c4d-4f60-8e1a-2b3c4d5e6f70")


def send_id(send_key: str) -> str:
    return "snd_" + uuid.uuid5(_SENDS, send_key).hex[:16]


async def schedule_due(uow: UnitOfWork, *, topic: str, now: datetime, limit: int = 200) -> int:
    """Advance up to `limit` due enrollments; returns how many were looked at."""
    session = uow.session
    rows = (
        await session.execute(
            select(
                enrollments,
                sequence_versions.c.definition,
                leads.c.traits,
                leads.c.score,
                leads.c.stage,
                leads.c.events,
                workspace_settings.c.config,
            )
            .join(sequences_table, sequences_table.c.id == enrollments.c.sequence_id)
            .join(
                sequence_versions,
                (sequence_versions.c.sequence_id == enrollments.c.sequence_id)
                & (sequence_versions.c.version == enrollments.c.version),
            )
            .outerjoin(
                leads,
                (leads.c.workspace_id == enrollments.c.workspace_id)
                & (leads.c.lead_id == enrollments.c.lead_id),
            )
            .outerjoin(
                workspace_settings,
                workspace_settings.c.workspace_id == enrollments.c.workspace_id,
            )
            .where(
                enrollments.c.status == "active",
                enrollments.c.next_at <= now,
                sequences_table.c.status == "active",
            )
            .order_by(enrollments.c.next_at)
            .limit(limit)
            .with_for_update(of=enrollments, skip_locked=True)
        )
    ).all()
    for row in rows:
        definition = seq.SequenceDefinition.model_validate(row.definition)
        config = NurtureConfig.model_validate(row.config or {})
        traits = dict(row.traits or {})
        facts = seq.Facts(
            traits=traits,
            score=row.score,
            stage=row.stage,
            timezone=traits.get("timezone"),
            events=[(name, datetime.fromisoformat(at)) for name, at in row.events or []],
        )
        zone = resolve_zone(traits.get("timezone"), default=config.timezone)
        progress = seq.Progress.model_validate(row.progress)
        decision = seq.advance(
            definition,
            progress,
            facts,
            now,
            enrollment_id=row.id,
            zone=zone,
            window=config.send_window,
        )
        if isinstance(decision, seq.Completed):
            await enrollment.end(uow, row.id, "completed", None, at=now, topic=topic)
            continue
        if isinstance(decision, seq.WaitUntil):
            await _move(uow, row.id, decision.next_progress, decision.at)
            continue
        key = f"{row.id}:{decision.step_id}"
        await session.execute(
            insert(sends)
            .values(
                id=send_id(key),
                send_key=key,
                workspace_id=row.workspace_id,
                enrollment_id=row.id,
                lead_id=row.lead_id,
                sequence_id=row.sequence_id,
                version=row.version,
                step_id=decision.step_id,
                variant_id=decision.variant_id,
                template_id=decision.template_id,
                message_id=f"<{send_id(key)}@leadflow>",
                status="queued",
                not_before=decision.not_before,
                next_attempt_at=decision.not_before,
                deadline=decision.not_before + timedelta(hours=config.send_deadline_hours),
            )
            .on_conflict_do_nothing(index_elements=[sends.c.send_key])
        )
        # The next step is worked out from when this email is due.
        await _move(uow, row.id, decision.next_progress, decision.not_before)
    return len(rows)


async def _move(uow: UnitOfWork, enrollment_id: str, progress: seq.Progress, at: datetime) -> None:
    await uow.session.execute(
        update(enrollments)
        .where(enrollments.c.id == enrollment_id)
        .values(progress=progress.model_dump(mode="json"), next_at=at)
    )


async def run_forever(
    make_uow: Callable[[], UnitOfWork], *, topic: str, every_seconds: float, stop: asyncio.Event
) -> None:
    """Advance due enrollments until `stop` is set (finishing the transaction at hand)."""
    while not stop.is_set():
        try:
            while not stop.is_set():
                async with make_uow() as uow:
                    n = await schedule_due(uow, topic=topic, now=utcnow())
                if n == 0:
                    break
        except Exception:  # a database blip must not stop the scheduler
            log.exception("nurture scheduler failed")
        await sleep_unless(stop, every_seconds)
