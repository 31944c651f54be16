"""The reporting consumer's bulk writes (docs/decisions/0037): touch volume buckets as
volume_bucket says, touchpoints kept once by id without the inbox, and lead rows left alone
when an event brings nothing new."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import SERVICES
from services.reporting.domain.buckets import volume_bucket
from services.reporting.domain.pseudonyms import pseudonymizer
from services.reporting.handlers import apply_events
from services.reporting.store import tables as models
from shared.db import UnitOfWork, create_session_factory
from shared.db.migrations import upgrade
from shared.events import Envelope

PSEUDONYMIZE = pseudonymizer("test-secret")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def sessions(database_url: str, engine: AsyncEngine):  # type: ignore[no-untyped-def]
    await upgrade(SERVICES["reporting"].migrations, database_url=database_url, schema="reporting")
    return create_session_factory(engine)


def page(ws: str, anon: str, at: datetime, source: str | None = None) -> Envelope:
    context = {"campaign": {"source": source, "medium": "cpc", "name": "c"}} if source else {}
    return Envelope(
        type="page",
        workspace_id=ws,
        lead_key=anon,
        occurred_at=at,
        payload={"message_id": uuid.uuid4().hex, "anonymous_id": anon, "context": context},
    )


async def _apply(sessions, batch: list[Envelope]) -> None:  # type: ignore[no-untyped-def]
    async with UnitOfWork(sessions, inbox=models.inbox, outbox=models.outbox) as uow:
        await apply_events(uow, batch, pseudonymize=PSEUDONYMIZE)


async def test_touches_are_counted_once_in_the_buckets_volume_bucket_gives(
    sessions,  # type: ignore[no-untyped-def]
) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    instants = [
        T0,
        T0 + timedelta(minutes=14, seconds=59, microseconds=999_999),
        T0 + timedelta(minutes=15),
        T0 - timedelta(microseconds=1),
        T0 + timedelta(hours=7, minutes=44, seconds=30, microseconds=500_000),
    ]
    touches = [page(ws, f"a{n}", at) for n, at in enumerate(instants)]
    # Redelivered in the same poll and in a later one: each touch counts once.
    await _apply(sessions, touches + touches[:2])
    await _apply(sessions, touches)
    expected: dict[datetime, int] = {}
    for at in instants:
        expected[volume_bucket(at)] = expected.get(volume_bucket(at), 0) + 1
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT bucket, touches FROM reporting.touch_volume WHERE workspace_id = :ws"),
            {"ws": ws},
        )
        assert dict(rows.all()) == expected
        ids = [t.id for t in touches]
        stored = await session.scalar(
            text("SELECT count(*) FROM reporting.touches WHERE id = ANY(:ids)"), {"ids": ids}
        )
        claimed = await session.scalar(
            text("SELECT count(*) FROM reporting.inbox WHERE message_id = ANY(:ids)"),
            {"ids": ids},
        )
    assert (stored, claimed) == (len(touches), 0)  # `touches` is the touchpoints' inbox


async def test_a_lead_row_takes_its_keys_first_touch_and_is_not_rewritten_for_nothing(
    sessions,  # type: ignore[no-untyped-def]
) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    lead = "ld_1"

    def moved(stage: str, at: datetime) -> Envelope:
        return Envelope(
            type="lead.lifecycle_changed",
            workspace_id=ws,
            lead_key=lead,
            occurred_at=at,
            payload={
                "lead_id": lead,
                "anonymous_ids": ["anon-1"],
                "from_stage": None,
                "to_stage": stage,
                "reason": "test",
            },
        )

    first = page(ws, "anon-1", T0, source="google")
    await _apply(sessions, [first, page(ws, "anon-1", T0 + timedelta(hours=1), source="bing")])
    # The lead's keys are linked by the same statement that creates its row.
    await _apply(sessions, [moved("lead", T0 + timedelta(days=1))])

    async def row() -> tuple[object, ...]:
        async with sessions() as session:
            found = await session.execute(
                text(
                    "SELECT xmin::text, lead_at, subscriber_at, first_touch_at, first_touch_id,"
                    " source FROM reporting.leads WHERE workspace_id = :ws AND lead_id = :lead"
                ),
                {"ws": ws, "lead": lead},
            )
            return tuple(found.one())

    version, lead_at, subscriber_at, touch_at, touch_id, source = await row()
    assert (lead_at, subscriber_at) == (T0 + timedelta(days=1),) * 2
    assert (touch_at, touch_id, source) == (T0, str(first.id), "google")
    # A later entry into the same stage, and a later touch: nothing changes, no new version.
    await _apply(sessions, [moved("lead", T0 + timedelta(days=2))])
    await _apply(sessions, [page(ws, "anon-1", T0 + timedelta(hours=2), source="x")])
    assert await row() == (version, lead_at, subscriber_at, touch_at, touch_id, source)
    # An earlier one changes it.
    await _apply(sessions, [moved("subscriber", T0 - timedelta(days=1))])
    assert (await row())[2] == T0 - timedelta(days=1)
