"""The read-only views and the leadflow_bi role, for BI tools connecting to PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import SERVICES
from services.reporting.domain.pseudonyms import pseudonymizer
from services.reporting.handlers import apply_events
from services.reporting.store import tables as models
from shared.db import UnitOfWork, create_session_factory
from shared.db.migrations import upgrade
from shared.events import Envelope

PSEUDONYMIZE = pseudonymizer("test-secret")

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)


async def test_the_bi_role_reads_the_views_and_nothing_else(
    database_url: str, engine: AsyncEngine
) -> None:
    await upgrade(SERVICES["reporting"].migrations, database_url=database_url, schema="reporting")
    await upgrade(SERVICES["reporting"].migrations, database_url=database_url, schema="reporting")
    ws, lead = f"ws_{uuid.uuid4().hex[:8]}", "ld_bi"
    page = Envelope(
        type="page",
        workspace_id=ws,
        lead_key="a1",
        occurred_at=AT,
        payload={
            "message_id": "m1",
            "anonymous_id": "a1",
            "context": {"campaign": {"source": "google", "medium": "cpc", "name": "spring"}},
        },
    )
    moved = Envelope(
        type="lead.lifecycle_changed",
        workspace_id=ws,
        lead_key=lead,
        occurred_at=AT + timedelta(hours=1),
        payload={
            "lead_id": lead,
            "anonymous_ids": ["a1"],
            "from_stage": None,
            "to_stage": "mql",
            "reason": "test",
        },
    )
    sessions = create_session_factory(engine)
    async with UnitOfWork(sessions, inbox=models.inbox, outbox=models.outbox) as uow:
        await apply_events(uow, [page, moved], pseudonymize=PSEUDONYMIZE)

    async with engine.connect() as conn:
        await conn.execute(text("SET ROLE leadflow_bi"))
        row = (
            await conn.execute(
                text(
                    "SELECT subscriber_at, mql_at, sql_at, first_touch_source, first_touch_campaign"
                    " FROM reporting.bi_leads WHERE workspace_id = :ws"
                ),
                {"ws": ws},
            )
        ).one()
        assert tuple(row) == (
            AT + timedelta(hours=1),
            AT + timedelta(hours=1),
            None,
            "google",
            "spring",
        )
        touches = await conn.execute(
            text("SELECT lead_id, source FROM reporting.bi_utm_touches WHERE workspace_id = :ws"),
            {"ws": ws},
        )
        assert touches.all() == [(lead, "google")]
        for view in (
            "bi_stage_entries",
            "bi_touch_volume",
            "bi_enrollments",
            "bi_email_sends",
            "bi_campaign_costs",
        ):
            await conn.execute(text(f"SELECT * FROM reporting.{view} LIMIT 1"))
        await conn.rollback()

    for forbidden in (
        "SELECT * FROM reporting.leads",
        "SELECT * FROM reporting.touches",
        "DELETE FROM reporting.bi_stage_entries",
        "INSERT INTO reporting.bi_campaign_costs (workspace_id) VALUES ('x')",
    ):
        async with engine.connect() as conn:
            await conn.execute(text("SET ROLE leadflow_bi"))
            with pytest.raises(ProgrammingError, match="permission denied"):
                await conn.execute(text(forbidden))
            await conn.rollback()
