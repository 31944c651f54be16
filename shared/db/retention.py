"""How long a processed message id is remembered: the dedupe window.

A message re-sent within the window (same id) finds its id in the inbox and has no effect;
ids older than the window are forgotten so the inbox does not grow for ever.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import Table, delete, func
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import is_transient
from shared.signals import sleep_unless

log = logging.getLogger(__name__)


async def purge_inbox(engine: AsyncEngine, inbox: Table, older_than: timedelta) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(inbox).where(inbox.c.processed_at < func.now() - older_than)
        )
    return int(result.rowcount or 0)


async def keep_purging(
    engine: AsyncEngine, inbox: Table, window: timedelta, stop: asyncio.Event, every: float = 600
) -> None:
    while not stop.is_set():
        try:
            purged = await purge_inbox(engine, inbox, window)
            if purged:
                log.info("inbox purged", extra={"rows": purged, "schema": inbox.schema})
        except Exception as exc:
            if not is_transient(exc):
                raise
        await sleep_unless(stop, every)
