"""The real unit of work (PostgreSQL) against the contract the fake passes too
(tests/uow_contract.py; the fake runs it in tests/unit/test_uow_contract.py)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import UnitOfWork, create_session_factory
from shared.events.codec import Record
from tests.integration.support import TestSchema
from tests.uow_contract import Scenario, params


class RealHarness:
    def __init__(self, engine: AsyncEngine, schema: TestSchema) -> None:
        self.engine = engine
        self.schema = schema
        self.uow = UnitOfWork(
            create_session_factory(engine), inbox=schema.inbox, outbox=schema.outbox
        )

    async def inbox(self) -> set[uuid.UUID]:
        async with self.engine.connect() as conn:
            return set(await conn.scalars(select(self.schema.inbox.c.message_id)))

    async def outbox(self, topic: str) -> list[Record]:
        o = self.schema.outbox
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(o.c.value, o.c.key).where(o.c.topic == topic).order_by(o.c.id)
            )
            return [Record(bytes(r.value), bytes(r.key)) for r in rows]


@pytest.mark.parametrize("scenario", params())
async def test_real_unit_of_work(
    scenario: Scenario, engine: AsyncEngine, schema: TestSchema
) -> None:
    await scenario(RealHarness(engine, schema))
