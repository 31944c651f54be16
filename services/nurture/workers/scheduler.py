"""Moving enrollments along their sequence: durable in PostgreSQL, safe with several
workers (due enrollments are claimed FOR UPDATE SKIP LOCKED) and across crashes (nothing
is remembered outside the database).

For each due enrollment of an active sequence, the step engine (sequences.advance) decides:
wait (the enrollment sleeps until then), send (a queued send row, keyed by enrollment and
step so it can exist once, due at the first moment inside the lead's send window), or
completed. Paused sequences' enrollments are not picked: resuming continues them where they
were, nobody repeated or skipped. Delivery (workers/delivery.py) takes the queued sends.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.nurture.domain import engine
from services.nurture.domain.config import NurtureConfig
from services.nurture.domain.sequences import SequenceDefinition
from services.nurture.domain.timing import resolve_zone
from services.nurture.store import enrollments
from services.nurture.store import sends as send_store
from shared.db import UnitOfWork
from shared.events import utcnow
from shared.signals import sleep_unless

log = logging.getLogger(__name__)
_SENDS = uuid.UUID("5b7e2a91-3c4d-4f60-8e1a-2b3c4d5e6f70")


def send_id(send_key: str) -> str:
    return "snd_" + uuid.uuid5(_SENDS, send_key).hex[:16]


def next_step(row: Any, now: datetime) -> tuple[engine.Decision, NurtureConfig]:
    """What the step engine decides for a due enrollment (its row as ``take_due`` loads
    it: definition, progress, the lead's copy, the workspace's settings)."""
    definition = SequenceDefinition.model_validate(row.definition)
    config = NurtureConfig.model_validate(row.config or {})
    traits = dict(row.traits or {})
    facts = engine.Facts(
        traits=traits,
        score=row.score,
        stage=row.stage,
        timezone=traits.get("timezone"),
        events=[(name, datetime.fromisoformat(at)) for name, at in row.events or []],
    )
    decision = engine.advance(
        definition,
        engine.Progress.model_validate(row.progress),
        facts,
        now,
        enrollment_id=row.id,
        zone=resolve_zone(traits.get("timezone"), default=config.timezone),
        window=config.send_window,
    )
    return decision, config


async def schedule_due(uow: UnitOfWork, *, topic: str, now: datetime, limit: int = 200) -> int:
    """Advance up to `limit` due enrollments; returns how many were looked at."""
    rows = await enrollments.take_due(uow.session, now=now, limit=limit)
    for row in rows:
        decision, config = next_step(row, now)
        if isinstance(decision, engine.Completed):
            await enrollments.end(uow, row.id, "completed", None, at=now, topic=topic)
        elif isinstance(decision, engine.WaitUntil):
            await enrollments.move(uow.session, row.id, decision.next_progress, decision.at)
        else:
            key = f"{row.id}:{decision.step_id}"
            await send_store.queue(
                uow.session,
                send_id=send_id(key),
                send_key=key,
                enrollment=row,
                step=decision,
                deadline=decision.not_before + timedelta(hours=config.send_deadline_hours),
            )
            # The next step is worked out from when this email is due.
            await enrollments.move(uow.session, row.id, decision.next_progress, decision.not_before)
    return len(rows)


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
