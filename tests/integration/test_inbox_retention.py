"""Processed ids are remembered for the dedupe window, then forgotten."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.retention import purge_inbox
from tests.integration.support import TestSchema


async def test_ids_older_than_the_window_are_purged_and_newer_ones_kept(
    engine: AsyncEngine, schema: TestSchema
) -> None:
    old, recent = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(insert(schema.inbox), [{"message_id": old}, {"message_id": recent}])
        await conn.execute(
            update(schema.inbox)
            .where(schema.inbox.c.message_id == old)
            .values(processed_at=func.now() - timedelta(hours=25))
        )
    assert await purge_inbox(engine, schema.inbox, timedelta(hours=24)) == 1
    async with engine.connect() as conn:
        left = set((await conn.execute(select(schema.inbox.c.message_id))).scalars())
    assert left == {recent}
