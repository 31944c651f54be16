"""Enrollment from lead events and scheduling of sends, on the real database."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.nurture import handlers as enrollment
from services.nurture.store import tables as models
from services.nurture.workers import scheduler
from services.registry import SERVICES
from shared.db import UnitOfWork, create_session_factory
from shared.db.migrations import upgrade
from shared.events import Envelope, Topics, decode

MONDAY_0700_UTC = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)  # 09:00 in Paris (CEST)

DEFINITION = {
    "trigger": {"kind": "stage_entered", "stage": "mql"},
    "steps": [
        {"kind": "email", "id": "welcome", "template_id": "TPL"},
        {"kind": "wait", "id": "pause", "duration": "P2D"},
        {"kind": "email", "id": "case-study", "template_id": "TPL"},
    ],
    "exit": {"stages": ["sql", "customer"], "events": ["Demo Booked"]},
    "reentry": {"policy": "never"},
}


class Nurture:
    def __init__(self, engine: AsyncEngine, topic: str) -> None:
        self.engine = engine
        self.sessions = create_session_factory(engine)
        self.topic = topic

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, inbox=models.inbox, outbox=models.outbox)

    async def consume(self, envelopes: Sequence[Envelope]) -> None:
        async with self.uow() as uow:
            await enrollment.apply_events(uow, envelopes, topic=self.topic)

    async def tick(self, now: datetime) -> int:
        async with self.uow() as uow:
            return await scheduler.schedule_due(uow, topic=self.topic, now=now)

    async def rows(self, table: Any, **where: object) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            query = select(table).where(*(table.c[k] == v for k, v in where.items()))
            return [dict(r._mapping) for r in await conn.execute(query)]

    async def events(self) -> list[Envelope]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(models.outbox.c.value).order_by(models.outbox.c.id))
            return [decode(r.value) for r in rows]


@pytest.fixture
async def nurture(database_url: str, engine: AsyncEngine, topics: Topics) -> Nurture:
    await upgrade(SERVICES["nurture"].migrations, database_url=database_url, schema="nurture")
    return Nurture(engine, topics.email_events)


async def workspace_with_sequence(nurture: Nurture, definition: dict[str, Any]) -> tuple[str, str]:
    ws, seq_id, tpl = (f"{p}_{uuid.uuid4().hex[:8]}" for p in ("ws", "seq", "tpl"))
    body = {
        **definition,
        "steps": [
            {**s, "template_id": tpl} if s.get("template_id") else s for s in definition["steps"]
        ],
    }
    async with nurture.engine.begin() as conn:
        await conn.execute(
            insert(models.templates).values(
                id=tpl, workspace_id=ws, name="t", subject="Hi {{ lead.first_name }}", text="x"
            )
        )
        await conn.execute(
            insert(models.sequences).values(
                id=seq_id, workspace_id=ws, name="s", status="active", current_version=1
            )
        )
        await conn.execute(
            insert(models.sequence_versions).values(sequence_id=seq_id, version=1, definition=body)
        )
        await conn.execute(
            insert(models.workspace_settings).values(
                workspace_id=ws, config={"timezone": "Europe/Paris"}
            )
        )
    return ws, seq_id


# What a valid payload of each kind needs besides the lead's facts (handlers read the
# typed payload, as decoded events carry it).
REQUIRED: dict[str, dict[str, Any]] = {
    "lead.lifecycle_changed": {"reason": "score"},
    "lead.scored": {"probability": 0.5, "model_version": "test", "score": 50},
}


def lead_event(ws: str, kind: str, at: datetime, **payload: Any) -> Envelope:
    return Envelope(
        type=kind,
        workspace_id=ws,
        lead_key="ld_1",
        occurred_at=at,
        payload={
            "lead_id": "ld_1",
            "email": "ada@acme.example",
            "traits": {"email": "ada@acme.example", "first_name": "Ada"},
            "user_ids": ["u-ada"],
            **REQUIRED.get(kind, {}),
            **payload,
        },
    )


async def test_an_mql_is_enrolled_once_and_its_emails_are_scheduled_in_the_window(
    nurture: Nurture,
) -> None:
    ws, seq_id = await workspace_with_sequence(nurture, DEFINITION)
    # Saturday night in Paris: the first email waits for Monday 09:00 local.
    saturday = MONDAY_0700_UTC - timedelta(days=1, hours=10)
    became_mql = lead_event(
        ws, "lead.lifecycle_changed", saturday, from_stage="lead", to_stage="mql", score=70
    )
    await nurture.consume([became_mql])
    await nurture.consume([became_mql])  # redelivered: no second enrollment
    [enrolled] = await nurture.rows(models.enrollments, sequence_id=seq_id)
    assert enrolled["status"] == "active"

    assert await nurture.tick(saturday) == 1
    [welcome] = await nurture.rows(models.sends, enrollment_id=enrolled["id"])
    assert welcome["step_id"] == "welcome"
    assert welcome["status"] == "queued"
    assert welcome["not_before"] == MONDAY_0700_UTC  # never in quiet hours
    assert await nurture.tick(saturday) == 0  # nothing due until then

    # Monday: the wait starts; two days later the case study is queued.
    await nurture.tick(MONDAY_0700_UTC)
    await nurture.tick(MONDAY_0700_UTC + timedelta(days=2))
    steps = sorted(
        s["step_id"] for s in await nurture.rows(models.sends, enrollment_id=enrolled["id"])
    )
    assert steps == ["case-study", "welcome"]
    await nurture.tick(MONDAY_0700_UTC + timedelta(days=3))
    [done] = await nurture.rows(models.enrollments, id=enrolled["id"])
    assert done["status"] == "completed"

    # Re-entry "never": becoming an MQL again does not enroll again.
    again = lead_event(
        ws,
        "lead.lifecycle_changed",
        saturday + timedelta(days=9),
        from_stage="recycled",
        to_stage="mql",
    )
    await nurture.consume([again])
    assert len(await nurture.rows(models.enrollments, sequence_id=seq_id)) == 1
    kinds = [
        e.type for e in await nurture.events() if e.payload.get("enrollment_id") == enrolled["id"]
    ]
    assert kinds == ["enrollment.started", "enrollment.completed"]


async def test_exit_criteria_stop_a_lead_at_once_and_cancel_what_is_queued(
    nurture: Nurture,
) -> None:
    ws, seq_id = await workspace_with_sequence(nurture, DEFINITION)
    monday = MONDAY_0700_UTC + timedelta(hours=1)
    await nurture.consume(
        [lead_event(ws, "lead.lifecycle_changed", monday, from_stage="lead", to_stage="mql")]
    )
    await nurture.tick(monday)
    [enrolled] = await nurture.rows(models.enrollments, sequence_id=seq_id)
    # Sales accepted the lead: the sequence ends, the queued email is cancelled.
    await nurture.consume(
        [
            lead_event(
                ws,
                "lead.lifecycle_changed",
                monday + timedelta(minutes=5),
                from_stage="mql",
                to_stage="sql",
            )
        ]
    )
    [ended] = await nurture.rows(models.enrollments, id=enrolled["id"])
    assert (ended["status"], ended["exit_reason"]) == ("exited", "stage:sql")
    [send] = await nurture.rows(models.sends, enrollment_id=enrolled["id"])
    assert send["status"] == "cancelled"


async def test_a_touchpoint_reaches_the_lead_through_its_user_id(nurture: Nurture) -> None:
    ws, seq_id = await workspace_with_sequence(nurture, DEFINITION)
    monday = MONDAY_0700_UTC + timedelta(hours=1)
    await nurture.consume(
        [lead_event(ws, "lead.lifecycle_changed", monday, from_stage="lead", to_stage="mql")]
    )
    demo = Envelope(
        type="track",
        workspace_id=ws,
        lead_key="browser",
        occurred_at=monday + timedelta(minutes=1),
        payload={"message_id": "m1", "user_id": "u-ada", "event": "Demo Booked"},
    )
    await nurture.consume([demo])
    [ended] = await nurture.rows(models.enrollments, sequence_id=seq_id)
    assert (ended["status"], ended["exit_reason"]) == ("exited", "event:Demo Booked")


async def test_a_hard_bounce_ends_the_enrollment_and_a_soft_one_does_not(nurture: Nurture) -> None:
    ws, seq_id = await workspace_with_sequence(nurture, DEFINITION)
    monday = MONDAY_0700_UTC + timedelta(hours=1)
    await nurture.consume(
        [lead_event(ws, "lead.lifecycle_changed", monday, from_stage="lead", to_stage="mql")]
    )

    def bounce(kind: str, minutes: int) -> Envelope:
        return Envelope(
            type="email.bounced",
            workspace_id=ws,
            lead_key="ld_1",
            occurred_at=monday + timedelta(minutes=minutes),
            payload={"lead_id": "ld_1", "send_id": f"snd_{kind}", "kind": kind, "detail": "550"},
        )

    await nurture.consume([bounce("soft", 1)])
    [still] = await nurture.rows(models.enrollments, sequence_id=seq_id)
    assert still["status"] == "active"
    await nurture.consume([bounce("hard", 2)])
    [ended] = await nurture.rows(models.enrollments, sequence_id=seq_id)
    assert (ended["status"], ended["exit_reason"]) == ("exited", "hard_bounced")
