"""Leads kept in memory between batches (services/scoring/lead_cache.py) against the real
database: a row written by anyone else is read again, a failed batch leaves nothing behind."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.domain.envelopes import envelopes_of
from services.registry import SERVICES
from services.scoring.store import tables
from shared.db.migrations import upgrade
from shared.errors import PermanentError
from shared.events import Envelope, Topics
from tests.integration.scoring_support import Scoring

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
async def scoring(database_url: str, engine: AsyncEngine, topics: Topics) -> Scoring:
    await upgrade(SERVICES["scoring"].migrations, database_url=database_url, schema="scoring")
    return Scoring(engine, topics.lead_events)


def pages(ws: str, anonymous_id: str, first: int, n: int) -> list[Envelope]:
    return envelopes_of(
        [
            {
                "type": "page",
                "messageId": uuid.uuid4().hex,
                "timestamp": (T0 + timedelta(minutes=first + k)).isoformat(),
                "anonymousId": anonymous_id,
                "properties": {"path": "/pricing"},
            }
            for k in range(n)
        ],
        ws,
    )


def visits(lead: dict[str, Any]) -> int:
    return int(lead["features"]["totals"]["type:page"])


async def test_a_lead_changed_by_another_transaction_is_read_again(scoring: Scoring) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    await scoring.apply(pages(ws, "a-1", 0, 3))
    lead = await scoring.lead_by(ws, "anonymous", "a-1")
    assert len(scoring.cache) >= 1
    # Sales (the API, in its own transaction) move it on and note a trait meanwhile.
    async with scoring.engine.begin() as conn:
        await conn.execute(
            update(tables.leads)
            .where(tables.leads.c.id == lead["id"])
            .values(stage="sql", traits={"title": "CEO"})
        )
    misses = scoring.cache.misses
    await scoring.apply(pages(ws, "a-1", 10, 2))
    after = await scoring.lead(lead["id"])
    assert scoring.cache.misses == misses + 1
    assert after["stage"] == "sql"  # not the stage the cached record had
    assert after["traits"] == {"title": "CEO"}
    assert visits(after) == 5
    # Unchanged since: the next batch takes the record kept by the last one.
    hits = scoring.cache.hits
    await scoring.apply(pages(ws, "a-1", 20, 1))
    assert scoring.cache.hits == hits + 1
    assert visits(await scoring.lead(lead["id"])) == 6


async def test_a_failed_batch_leaves_no_change_in_the_kept_records(scoring: Scoring) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    await scoring.apply(pages(ws, "a-1", 0, 3))
    lead_id = (await scoring.lead_by(ws, "anonymous", "a-1"))["id"]
    good = pages(ws, "a-1", 10, 4)
    # A touchpoint with no identifier fails the batch after the good ones were applied to
    # the lead's record in memory.
    bad = good[-1].model_copy(update={"id": uuid.uuid4(), "payload": {"properties": {}}})
    with pytest.raises(PermanentError):
        await scoring.apply([*good, bad])
    await scoring.apply(pages(ws, "a-1", 30, 1))
    assert visits(await scoring.lead(lead_id)) == 3 + 1
