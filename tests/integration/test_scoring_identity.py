"""Identity stitching in the scoring service's real handler, fed from real Kafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import SERVICES
from services.scoring.store import tables
from shared.bus import (
    KafkaPublisher,
    publish,
)
from shared.db.migrations import upgrade
from shared.events import Envelope, Topics
from tests.integration.scoring_support import scoring_consumer
from tests.integration.support import wait_consumed, wait_for

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def touch(ws: str, kind: str, minutes: int, **payload: object) -> Envelope:
    key = str(payload.get("anonymous_id") or payload.get("user_id"))
    body = {"message_id": uuid.uuid4().hex, **payload}
    if kind == "track":
        body.setdefault("event", "Viewed Page")
    return Envelope(
        type=kind,
        workspace_id=ws,
        lead_key=key,
        occurred_at=T0 + timedelta(minutes=minutes),
        payload=body,
    )


@pytest.fixture
def group() -> str:
    """The scoring handler's consumer group: its committed offsets show how far it got."""
    return f"scoring-{uuid.uuid4().hex[:6]}"


@pytest.fixture
async def scoring(
    bootstrap: str, database_url: str, engine: AsyncEngine, topics: Topics, group: str
) -> AsyncIterator[KafkaPublisher]:
    """The scoring handler consuming this test's touchpoints topic."""
    await upgrade(SERVICES["scoring"].migrations, database_url=database_url, schema="scoring")
    async with scoring_consumer(bootstrap, topics, engine, group=group) as publisher:
        yield publisher


async def lead_of(engine: AsyncEngine, ws: str, kind: str, value: str) -> str | None:
    async with engine.connect() as conn:
        return await conn.scalar(
            select(tables.identities.c.lead_id).where(
                tables.identities.c.workspace_id == ws,
                tables.identities.c.kind == kind,
                tables.identities.c.value == value,
            )
        )


async def live_leads(engine: AsyncEngine, ws: str) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(tables.leads).where(
                tables.leads.c.workspace_id == ws, tables.leads.c.merged_into.is_(None)
            )
        )
        return [dict(r._mapping) for r in rows]


async def count(engine: AsyncEngine, table: object, ws: str) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                select(func.count()).select_from(table).where(table.c.workspace_id == ws)
            )
            or 0
        )  # type: ignore[attr-defined]


async def test_anonymous_history_joins_the_known_lead_and_redelivery_changes_nothing(
    scoring: KafkaPublisher, engine: AsyncEngine, topics: Topics, bootstrap: str, group: str
) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    first = [
        touch(ws, "page", 0, anonymous_id="laptop"),
        touch(
            ws,
            "identify",
            1,
            anonymous_id="laptop",
            user_id="u-ada",
            traits={"email": "Ada@Acme.example", "title": "CTO"},
        ),
        touch(ws, "page", 2, anonymous_id="phone"),
        touch(ws, "track", 3, anonymous_id="phone", event="Viewed Pricing"),
    ]
    await publish(scoring, topics.touchpoints, first)
    # The two browsers' keys may land on different partitions: wait for both leads.
    await wait_for(lambda: lead_of(engine, ws, "anonymous", "phone"), what="phone's anonymous lead")
    await wait_for(lambda: lead_of(engine, ws, "user", "u-ada"), what="Ada's lead")
    phone_lead = await lead_of(engine, ws, "anonymous", "phone")
    ada = await lead_of(engine, ws, "user", "u-ada")
    assert phone_lead != ada  # not known to be Ada yet

    # The phone signs in as Ada: its history joins hers.
    second = [
        touch(
            ws, "identify", 10, anonymous_id="phone", user_id="u-ada", traits={"company_size": 120}
        )
    ]
    await publish(scoring, topics.touchpoints, second)

    async def phone_is_ada() -> bool:
        return await lead_of(engine, ws, "anonymous", "phone") == ada

    await wait_for(phone_is_ada, what="the phone's history to join Ada's lead")
    await publish(scoring, topics.touchpoints, first + second)  # redelivered: no effect
    # Not a fixed sleep: wait until the handler committed past the redelivered copies.
    await wait_consumed(bootstrap, group, topics.touchpoints)
    [lead] = await live_leads(engine, ws)
    assert lead["id"] == ada
    assert lead["traits"] == {"email": "Ada@Acme.example", "title": "CTO", "company_size": 120}
    assert lead["first_seen_at"] == T0
    assert lead["last_seen_at"] == T0 + timedelta(minutes=10)
    assert await lead_of(engine, ws, "email", "ada@acme.example") == ada
    assert await count(engine, tables.identities, ws) == 4  # laptop, phone, u-ada, email
    # Both browsers' histories, counted once each despite the redelivery.
    totals = lead["features"]["totals"]  # type: ignore[index]
    assert totals == {
        "type:page": 2,
        "page:other": 2,
        "type:identify": 2,
        "type:track": 1,
        "high_intent": 1,
    }


async def test_two_people_on_one_browser_are_kept_apart_and_the_conflict_recorded(
    scoring: KafkaPublisher, engine: AsyncEngine, topics: Topics
) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    await publish(
        scoring, topics.touchpoints, [touch(ws, "identify", 0, anonymous_id="kiosk", user_id="u-1")]
    )
    await wait_for(lambda: lead_of(engine, ws, "user", "u-1"), what="u-1's lead")
    await publish(
        scoring, topics.touchpoints, [touch(ws, "identify", 5, anonymous_id="kiosk", user_id="u-2")]
    )
    await wait_for(lambda: lead_of(engine, ws, "user", "u-2"), what="u-2's lead")
    first, second = (
        await lead_of(engine, ws, "user", "u-1"),
        await lead_of(engine, ws, "user", "u-2"),
    )
    assert first != second
    assert await lead_of(engine, ws, "anonymous", "kiosk") == first
    assert len(await live_leads(engine, ws)) == 2
    async with engine.connect() as conn:
        conflict = (
            await conn.execute(
                select(tables.identity_conflicts).where(
                    tables.identity_conflicts.c.workspace_id == ws
                )
            )
        ).one()
    assert (conflict.lead_id, conflict.other_lead_id) == (second, first)
    assert "different userIds" in conflict.reason
