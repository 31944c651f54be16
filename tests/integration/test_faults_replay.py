"""Every topic replayed from the beginning, after clients sent every message three times
(issue 8, item 4): identical scores, stages, emails and reports.

Simulated traffic goes through the real ingest service, each message sent three times with
its messageId (the second and third passes after the first). The pipeline runs once ("live")
into fresh databases: scoring from the touchpoints (its outbox relayed to the lead-events
topic), nurture (an MQL sequence) and reporting from the topics. Then every topic is read
again from its beginning by new consumer groups into a second set of fresh databases
("replay"). Both must hold the same leads, scores, stage entries, enrollments and scheduled
emails, and give the same funnel and velocity reports; the live run must have applied each
message once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.nurture import handlers as enrollment
from services.nurture.store import tables as nurture_models
from services.nurture.workers import scheduler
from services.reporting.domain.period import Period
from services.reporting.domain.pseudonyms import pseudonymizer
from services.reporting.handlers import apply_events as apply_reporting_events
from services.reporting.settings import ReportingSettings
from services.reporting.store import tables as reporting_models
from services.reporting.store.reports import funnel, velocity
from services.scoring import handlers
from services.scoring.store import tables as scoring_models
from services.scoring.workers.live_models import LiveModels
from shared.bus import (
    ConsumerRunner,
    DeadLetterSink,
    KafkaPublisher,
    create_consumer,
    create_producer,
)
from shared.db import OutboxRelay, UnitOfWork, create_session_factory
from shared.events import Envelope, Topics
from shared.settings import DEV_SECRET
from tests.integration.fault_support import Size, committed, figures, fresh_database, sizes
from tests.integration.ingest_server import SECRET, ingest_server
from tests.integration.scoring_support import state
from tests.integration.support import read_topic, wait_for
from tests.integration.test_nurture_enrollment import DEFINITION
from tools.simulation.simulate import simulate

END = datetime(2026, 4, 1, tzinfo=UTC)
SCHEDULE_AT = END + timedelta(days=1)  # when both runs schedule the sequences' emails
PASSES = 3

BatchHandler = Callable[[Sequence[Envelope]], Awaitable[None]]


async def consume_everything(
    bootstrap: str, topics: list[str], handler: BatchHandler, *, whole_poll: bool = False
) -> int:
    """A new consumer group over `topics` from their beginning until every record now in
    them is handled and committed; how many records that was."""
    total = sum([len(await read_topic(bootstrap, t)) for t in topics])
    group = f"replay-{uuid.uuid4().hex[:8]}"
    producer = create_producer(bootstrap, client_id="replay-test")
    await producer.start()
    runner = ConsumerRunner(
        create_consumer(bootstrap, group_id=group, client_id="replay-test"),
        topics=topics,
        group=group,
        handler=handler,
        deadletters=DeadLetterSink(KafkaPublisher(producer), f"{topics[0]}.deadletter-test"),
        service="replay-test",
        whole_poll=whole_poll,
    )
    task = asyncio.create_task(runner.run())

    async def done() -> bool:
        return sum((await committed(bootstrap, group)).values()) >= total

    try:
        await wait_for(done, within=600, what=f"{total} records of {topics} consumed")
    finally:
        runner.stop()
        await task
        await producer.stop()
    return total


class Pipeline:
    """Scoring, nurture and reporting handlers on three databases of their own."""

    def __init__(self, scoring: AsyncEngine, nurture: AsyncEngine, reporting: AsyncEngine):
        self.scoring, self.nurture, self.reporting = scoring, nurture, reporting

    async def run(self, bootstrap: str, topics: Topics, *, relay: bool) -> None:
        sessions = create_session_factory(self.scoring)
        live = LiveModels(sessions, secret=DEV_SECRET)
        await live.refresh()

        async def score(envelopes: Sequence[Envelope]) -> None:
            async with UnitOfWork(
                sessions, inbox=scoring_models.inbox, outbox=scoring_models.outbox
            ) as uow:
                await handlers.apply_touchpoints(
                    uow, envelopes, live, topic=topics.lead_events, secret=SECRET
                )

        await consume_everything(
            bootstrap, [topics.touchpoints, topics.email_events], score, whole_poll=True
        )
        if relay:  # the live run publishes its lead events; a replay only reads them
            await self._relay(bootstrap)
        nurture = create_session_factory(self.nurture)

        async def enroll(envelopes: Sequence[Envelope]) -> None:
            async with UnitOfWork(
                nurture, inbox=nurture_models.inbox, outbox=nurture_models.outbox
            ) as uow:
                await enrollment.apply_events(uow, envelopes, topic=topics.email_events)

        await consume_everything(
            bootstrap, [topics.lead_events, topics.touchpoints, topics.email_events], enroll
        )
        while True:
            async with UnitOfWork(
                nurture, inbox=nurture_models.inbox, outbox=nurture_models.outbox
            ) as uow:
                if not await scheduler.schedule_due(
                    uow, topic=topics.email_events, now=SCHEDULE_AT
                ):
                    break
        reporting = create_session_factory(self.reporting)

        async def report(envelopes: Sequence[Envelope]) -> None:
            async with UnitOfWork(
                reporting, inbox=reporting_models.inbox, outbox=reporting_models.outbox
            ) as uow:
                await apply_reporting_events(
                    uow, list(envelopes), pseudonymize=pseudonymizer(SECRET)
                )

        await consume_everything(bootstrap, [topics.lead_events], report, whole_poll=True)

    async def _relay(self, bootstrap: str) -> None:
        producer = create_producer(bootstrap, client_id="replay-relay")
        await producer.start()
        relay = OutboxRelay(self.scoring, scoring_models.outbox, KafkaPublisher(producer))
        try:
            await relay.publish_pending()
        finally:
            await producer.stop()

    async def outcome(self, ws: str) -> dict[str, Any]:
        scoring = await state(self.scoring)
        scoring.pop("events")  # the live run's outbox was relayed (and emptied)
        enrollments, sends = nurture_models.enrollments, nurture_models.sends
        async with self.nurture.connect() as conn:
            enrolled = sorted(
                (r.id, r.lead_id, r.status, r.trigger, r.entered_at)
                for r in await conn.execute(select(enrollments))
            )
            emails = sorted(
                (r.send_key, r.lead_id, r.step_id, r.template_id, r.not_before, r.status)
                for r in await conn.execute(select(sends))
            )
        period = Period.of_days(date(2026, 1, 1), date(2026, 4, 30), "UTC")
        async with create_session_factory(self.reporting)() as session:
            report = await funnel.funnel(
                session,
                ws,
                period,
                as_of=datetime(2026, 5, 1, tzinfo=UTC),
                windows=ReportingSettings().windows(),
            )
            speed = await velocity.velocity(session, ws, period)
        return {
            **scoring,
            "enrollments": enrolled,
            "emails": emails,
            "funnel": report,
            "velocity": speed,
        }


async def _sequence_for(engine: AsyncEngine, ws: str) -> None:
    """An active sequence of ws that enrolls every new MQL (as test_nurture_enrollment's)."""
    m = nurture_models
    async with engine.begin() as conn:
        await conn.execute(
            insert(m.templates).values(
                id="tpl_replay",
                workspace_id=ws,
                name="t",
                subject="Hi {{ lead.first_name }}",
                text="x",
            )
        )
        await conn.execute(
            insert(m.sequences).values(
                id="seq_replay", workspace_id=ws, name="s", status="active", current_version=1
            )
        )
        steps = [
            {**s, "template_id": "tpl_replay"} if s.get("template_id") else s
            for s in DEFINITION["steps"]
        ]
        await conn.execute(
            insert(m.sequence_versions).values(
                sequence_id="seq_replay", version=1, definition={**DEFINITION, "steps": steps}
            )
        )


async def send_three_times(url: str, write_key: str, messages: list[dict[str, Any]]) -> int:
    """Every message sent PASSES times (same messageId); the requests made."""
    requests = 0
    async with httpx.AsyncClient(base_url=url, auth=(write_key, ""), timeout=60) as client:
        for _ in range(PASSES):
            for start in range(0, len(messages), 200):
                response = await client.post(
                    "/v1/batch", json={"batch": messages[start : start + 200]}
                )
                requests += 1
                assert response.status_code == 200, response.text
    return requests


@pytest.mark.parametrize(
    "size", sizes(Size("quick", events=150, kills=0), Size("soak", events=1_500, kills=0))
)
async def test_replaying_every_topic_after_triple_sends_gives_identical_results(
    size: Size, bootstrap: str, database_url: str
) -> None:
    """`size.events` simulated people (about 16 messages each)."""
    sim = simulate(size.events, seed=23, end=END)
    messages = [{k: v for k, v in m.items() if k != "receivedAt"} for m in sim.messages]
    async with ingest_server() as ingest:
        ws = ingest.create_workspace()
        await wait_for(lambda: ingest.knows(ws["write_key"]), within=30, what="the workspace")
        requests = await send_three_times(ingest.url, ws["write_key"], messages)
        topics = ingest.topics
        records = len(await read_topic(bootstrap, topics.touchpoints))
        async with AsyncExitStack() as stack:
            engines = [
                (await stack.enter_async_context(fresh_database(database_url, service)))[1]
                for _ in range(2)
                for service in ("scoring", "nurture", "reporting")
            ]
            live, replay = Pipeline(*engines[:3]), Pipeline(*engines[3:])
            for pipeline in (live, replay):
                await _sequence_for(pipeline.nurture, ws["id"])
            await live.run(bootstrap, topics, relay=True)
            await replay.run(bootstrap, topics, relay=False)
            first, second = await live.outcome(ws["id"]), await replay.outcome(ws["id"])
            async with live.scoring.connect() as conn:
                applied = await conn.scalar(select(func.count()).select_from(scoring_models.inbox))
            lead_events = await read_topic(bootstrap, topics.lead_events)

    differing = [key for key in first if first[key] != second[key]]
    figures(
        f"replay[{size.name}]",
        messages=len(messages),
        sends_per_message=PASSES,
        requests=requests,
        touchpoint_records=records,
        applied_once=applied,
        leads=len(first["leads"]),
        stage_entries=len(first["stages"]),
        enrollments=len(first["enrollments"]),
        emails_scheduled=len(first["emails"]),
        lead_events=len(lead_events),
        differing=differing,
    )
    assert applied == len(messages)  # each message once, whatever was sent again
    assert differing == []
    assert first["enrollments"], "no lead became an MQL: nothing compared for nurture"
    assert first["funnel"] == second["funnel"]
