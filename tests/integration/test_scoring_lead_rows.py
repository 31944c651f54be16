"""The lead upsert (store.save_records: a batch's leads by COPY, then one upsert) against
the real database: what is read back is what was written, for awkward values too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import SERVICES
from services.scoring.domain.features import FeatureState
from services.scoring.domain.records import LeadRecord
from services.scoring.store import store
from shared.db import create_session_factory
from shared.db.migrations import upgrade

KOLKATA = timezone(timedelta(hours=5, minutes=30))


@pytest.fixture
async def sessions(database_url: str, engine: AsyncEngine):  # type: ignore[no-untyped-def]
    await upgrade(SERVICES["scoring"].migrations, database_url=database_url, schema="scoring")
    return create_session_factory(engine)


def record(ws: str, **fields: object) -> LeadRecord:
    state = FeatureState()
    state.add("page", {"properties": {"path": "/pricing"}}, datetime(2026, 5, 4, 9, tzinfo=UTC))
    values: dict[str, object] = {
        "id": f"lead_{uuid.uuid4().hex[:10]}",
        "workspace_id": ws,
        "traits": {},
        "features": state,
        "first_seen_at": datetime(2026, 5, 4, 9, tzinfo=UTC),
        "last_seen_at": datetime(2026, 5, 4, 9, tzinfo=UTC),
        "is_new": True,
        "changed": True,
    }
    values.update(fields)
    return LeadRecord(**values)  # type: ignore[arg-type]


def columns(r: LeadRecord) -> dict[str, object]:
    return {
        "id": r.id,
        "traits": r.traits,
        "features": r.features.as_json(),
        "first_seen_at": r.first_seen_at,
        "last_seen_at": r.last_seen_at,
        "merged_into": r.merged_into,
        **{c: getattr(r, c) for c in store._RECORD_COLUMNS},
    }


async def test_leads_read_back_as_written(sessions) -> None:  # type: ignore[no-untyped-def]
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    odd = record(
        ws,
        traits={
            "name": 'Zoë "Z" O\'Brien \\ 東京 🚀',
            "nested": {"list": [1, 2.5, None, True, "x"], "empty": {}},
            "big": 2**62,
            "tiny": 1e-300,
        },
        first_seen_at=datetime(2026, 5, 4, 9, 0, 0, 123456, tzinfo=KOLKATA),
        last_seen_at=datetime(2026, 5, 4, 23, 59, 59, 999999, tzinfo=KOLKATA),
        stage="mql",
        stage_entered_at=datetime(2026, 5, 4, 10, tzinfo=UTC),
        identified=True,
        score=87,
        probability=0.1 + 0.2,  # 0.30000000000000004: every digit must survive
        fit=40,
        engagement=100,
        model_version="v-ß",
        factors=[{"name": "pricing_views", "points": 12, "text": "viewed pricing once: +12"}],
        scored_at=datetime(2026, 5, 4, 9, tzinfo=UTC),
        published_score=85,
        rule_scores={"fit": 12.5, "engagement": -3.25},
    )
    plain = record(ws)  # nulls wherever a lead may have them
    folded = record(ws, merged_into=odd.id)
    now = datetime(2026, 5, 5, tzinfo=UTC)
    async with sessions.begin() as session:
        await store.save_records(session, [odd, plain, folded], now)
    async with sessions() as session:
        loaded = {r.id: r for r in await store.load_records(session, [odd.id, plain.id, folded.id])}
    for written in (odd, plain, folded):
        assert columns(loaded[written.id]) == columns(written)
    assert loaded[odd.id].probability == 0.30000000000000004

    # A second save of the same leads updates them in place.
    odd.score, odd.stage, odd.traits = 12, "sql", {"name": "Zoë"}
    odd.changed = True
    async with sessions.begin() as session:
        await store.save_records(session, [odd], now + timedelta(hours=1))
    async with sessions() as session:
        (again,) = await store.load_records(session, [odd.id])
    assert columns(again) == columns(odd)


async def test_a_transaction_may_write_a_lead_twice(sessions) -> None:  # type: ignore[no-untyped-def]
    # (A batch cut by an erasure writes leads once per run, in one transaction.)
    lead = record(f"ws_{uuid.uuid4().hex[:8]}", score=10)
    async with sessions.begin() as session:
        await store.save_records(session, [lead], datetime(2026, 5, 5, tzinfo=UTC))
        lead.score, lead.changed = 20, True
        await store.save_records(session, [lead], datetime(2026, 5, 5, tzinfo=UTC))
    async with sessions() as session:
        (loaded,) = await store.load_records(session, [lead.id])
    assert loaded.score == 20
