"""Scoring's lead list, page by page, against the real database: every sort order, ties and
missing scores across page boundaries, filters kept on later pages."""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import SERVICES
from services.scoring.store import leads
from services.scoring.store.tables import leads as leads_table
from shared.db import create_session_factory
from shared.db.migrations import upgrade

T0 = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
async def workspace(
    database_url: str, engine: AsyncEngine
) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A workspace of 60 leads: scores from a few values (many ties) or none, update times
    with ties, two merged leads (never listed). Deleted afterwards: rows made by hand would
    otherwise fill other tests' maintenance batches (decay, purge) in the shared schema."""
    await upgrade(SERVICES["scoring"].migrations, database_url=database_url, schema="scoring")
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    rng = random.Random(7)
    rows = [
        {
            "id": f"lead_{ws}_{rng.randrange(10**6):06d}_{i}",
            "workspace_id": ws,
            "first_seen_at": T0,
            "last_seen_at": T0,
            "updated_at": T0 + timedelta(minutes=rng.choice([0, 1, 1, 2, 5])),
            "score": rng.choice([None, 10, 50, 50, 50, 90]),
            "stage": rng.choice(["lead", "mql"]),
            "merged_into": "lead_survivor" if i < 2 else None,
        }
        for i in range(60)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(leads_table), rows)
    yield ws, [r for r in rows if r["merged_into"] is None]
    async with engine.begin() as conn:
        await conn.execute(delete(leads_table).where(leads_table.c.workspace_id == ws))


def expected(rows: list[dict[str, Any]], sort: str) -> list[str]:
    key = sort.lstrip("-")
    if key == "score":
        # -score: highest first, no score last; score: no score first, then lowest
        def rank(r: dict[str, Any]) -> tuple[Any, ...]:
            missing = r["score"] is None
            if sort.startswith("-"):
                return (missing, -(r["score"] or 0), r["id"])
            return (not missing, r["score"] or 0, r["id"])

        return [r["id"] for r in sorted(rows, key=rank)]
    sign = -1 if sort.startswith("-") else 1
    return [
        r["id"] for r in sorted(rows, key=lambda r: (sign * r["updated_at"].timestamp(), r["id"]))
    ]


async def pages(engine: AsyncEngine, ws: str, q: leads.LeadQuery) -> list[str]:
    sessions = create_session_factory(engine)
    seen: list[str] = []
    for _ in range(100):
        async with sessions() as session:
            items, q.cursor = await leads.listing(session, ws, q)
        seen.extend(i["id"] for i in items)
        assert len(items) <= q.limit
        if q.cursor is None:
            return seen
        assert len(items) == q.limit  # only the last page is short
    raise AssertionError("the cursor never ran out")


@pytest.mark.parametrize("sort", sorted(leads.SORTS))
@pytest.mark.parametrize("limit", [1, 3, 7, 100])
async def test_pages_list_every_live_lead_once_in_order(
    engine: AsyncEngine, workspace: tuple[str, list[dict[str, Any]]], sort: str, limit: int
) -> None:
    ws, rows = workspace
    assert await pages(engine, ws, leads.LeadQuery(sort=sort, limit=limit)) == expected(rows, sort)


async def test_later_pages_keep_the_filters(
    engine: AsyncEngine, workspace: tuple[str, list[dict[str, Any]]]
) -> None:
    ws, rows = workspace
    mqls = [r for r in rows if r["stage"] == "mql" and r["score"] is not None and r["score"] >= 50]
    q = leads.LeadQuery(stage="mql", min_score=50, sort="-score", limit=4)
    assert await pages(engine, ws, q) == expected(mqls, "-score")


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b'["fifty", "lead_1"]').decode(),  # a score that is text
        base64.urlsafe_b64encode(b"[50, 7]").decode(),  # a lead id that is a number
        base64.urlsafe_b64encode(b"[50]").decode(),
    ],
)
async def test_a_cursor_the_api_did_not_give_is_refused(
    engine: AsyncEngine, workspace: tuple[str, list[dict[str, Any]]], cursor: str
) -> None:
    ws, _ = workspace
    async with create_session_factory(engine)() as session:
        with pytest.raises(leads.BadCursor):
            await leads.listing(session, ws, leads.LeadQuery(cursor=cursor))
