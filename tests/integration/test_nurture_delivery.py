"""Nurture delivery against a real SMTP server (aiosmtpd) and the real database.

Each test migrates the nurture schema into a schema of its own (the tables are mapped onto it
with SQLAlchemy's schema_translate_map), so no other test's sends can be claimed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.nurture.adapters.mailer import IN_DATA, Mailer, Outcome
from services.nurture.api.unsubscribe import unsubscribe_router
from services.nurture.domain.unsubscribe import read_token
from services.nurture.settings import NurtureSettings
from services.nurture.store import tables as models
from services.nurture.workers.delivery import deliver_due, recover_interrupted
from services.registry import SERVICES
from shared.db import UnitOfWork, create_session_factory
from shared.db.migrations import upgrade
from shared.email_links import verify
from shared.events import Envelope, decode
from tests.integration.smtp_support import Recorder

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)  # a Monday, inside the default 09-17 window
TOPIC = "test.email-events"
SECRET = "integration-secret"


# --- the database ---------------------------------------------------------------------------


class Nurture:
    """The nurture tables in a schema of the test's own, and helpers to fill and read them."""

    def __init__(self, engine: AsyncEngine, schema: str) -> None:
        self.engine = engine.execution_options(schema_translate_map={"nurture": schema})
        self.sessions = create_session_factory(self.engine)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, inbox=models.inbox, outbox=models.outbox)

    async def add(self, table: Any, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(table).values(**values))

    async def lead(self, ws: str, lead_id: str, email_address: str, **traits: Any) -> None:
        await self.add(
            models.leads,
            workspace_id=ws,
            lead_id=lead_id,
            email=email_address,
            traits={"email": email_address, **traits},
            score=72,
            stage="mql",
        )

    async def template(self, ws: str, template_id: str = "tpl_welcome") -> str:
        await self.add(
            models.templates,
            id=template_id,
            workspace_id=ws,
            name="Welcome",
            subject="Welcome {{ lead.first_name | default('there') }} to {{ workspace }}",
            html=(
                "<html><body><p>Hi {{ lead.first_name | default('there') }},"
                " your score is {{ score }}.</p>"
                '<p><a href="https://acme.example/pricing?plan=pro&amp;x=1">Pricing</a></p>'
                '<p><a data-leadflow="unsubscribe" href="{{ unsubscribe_url }}">'
                "Unsubscribe</a></p></body></html>"
            ),
            text="Hi {{ lead.first_name | default('there') }}! Unsubscribe: {{ unsubscribe_url }}",
        )
        return template_id

    async def send(
        self,
        ws: str,
        lead_id: str,
        *,
        template_id: str = "tpl_welcome",
        due: datetime = T0,
        deadline: datetime | None = None,
        **extra: Any,
    ) -> str:
        send_id = f"snd_{uuid.uuid4().hex[:12]}"
        values: dict[str, Any] = {
            "id": send_id,
            "send_key": f"enr_{send_id}:step_1",
            "workspace_id": ws,
            "enrollment_id": f"enr_{send_id}",
            "lead_id": lead_id,
            "sequence_id": "seq_1",
            "version": 3,
            "step_id": "step_1",
            "variant_id": "b",
            "template_id": template_id,
            "message_id": f"{send_id}@leadflow",
            "status": "queued",
            "not_before": due,
            "deadline": deadline or due + timedelta(days=3),
            "next_attempt_at": due,
        }
        values.update(extra)
        async with self.engine.begin() as conn:  # sends go out only for active sequences
            await conn.execute(
                pg_insert(models.sequences)
                .values(
                    id=values["sequence_id"],
                    workspace_id=ws,
                    name="s",
                    status="active",
                    current_version=3,
                )
                .on_conflict_do_nothing()
            )
        await self.add(models.sends, **values)
        return send_id

    async def row(self, send_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(models.sends).where(models.sends.c.id == send_id))
            ).one()
            return dict(row._mapping)

    async def suppressions(self, ws: str) -> dict[str, tuple[str, str]]:
        sup = models.suppressions
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(sup.c.email, sup.c.reason, sup.c.detail).where(sup.c.workspace_id == ws)
            )
            return {r.email: (r.reason, r.detail) for r in rows}

    async def events(self) -> list[Envelope]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(models.outbox.c.topic, models.outbox.c.value).order_by(models.outbox.c.id)
            )
            out = []
            for r in rows:
                assert r.topic == TOPIC
                out.append(decode(r.value))
            return out


@pytest.fixture
async def nurture(database_url: str, engine: AsyncEngine) -> AsyncIterator[Nurture]:
    schema = f"t_nd_{uuid.uuid4().hex[:10]}"
    await upgrade(SERVICES["nurture"].migrations, database_url=database_url, schema=schema)
    yield Nurture(engine, schema)
    async with engine.begin() as conn:
        await conn.execute(text(f'drop schema "{schema}" cascade'))


@pytest.fixture
def settings(smtp: tuple[Recorder, int]) -> NurtureSettings:
    return NurtureSettings(
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        smtp_timeout_seconds=5,
        public_url="https://nurture.example",
        tracking_url="https://track.example",
        secret_key=SECRET,
    )


@pytest.fixture
async def mailer(settings: NurtureSettings) -> AsyncIterator[Mailer]:
    mailer = Mailer.from_settings(settings)
    yield mailer
    await mailer.close()


def workspace() -> str:
    return f"ws_{uuid.uuid4().hex[:8]}"


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


# --- tests --------------------------------------------------------------------------------


async def test_one_email_per_send_with_headers_body_tracking_and_events(
    nurture: Nurture, smtp: tuple[Recorder, int], settings: NurtureSettings, mailer: Mailer
) -> None:
    recorder, _ = smtp
    ws = workspace()
    await nurture.template(ws)
    addresses = [f"lead{i}@acme.example" for i in range(5)]
    send_ids = []
    for i, address in enumerate(addresses):
        await nurture.lead(ws, f"ld_{i}", address, first_name=f"Ada{i}")
        send_ids.append(await nurture.send(ws, f"ld_{i}"))

    taken = await deliver_due(
        nurture.uow, mailer, settings, topic=TOPIC, now=T0, workspace_name=lambda w: "Acme"
    )
    assert taken == 5
    assert len(recorder.received) == 5
    assert mailer.connections_opened == 1, "one SMTP connection, reused"

    for i, (address, send_id) in enumerate(zip(addresses, send_ids, strict=True)):
        [msg] = recorder.to(address)
        assert msg["Message-ID"] == f"<{send_id}@leadflow>"
        assert msg["Subject"] == f"Welcome Ada{i} to Acme"
        assert msg["From"] == "LeadFlow <marketing@leadflow.example>"
        assert msg["To"] == address
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = (u.strip().strip("<>") for u in msg["List-Unsubscribe"].split(","))
        assert https.startswith("https://nurture.example/u/")
        token = https.rsplit("/", 1)[1]
        assert mailto == f"mailto:unsubscribe@leadflow.example?subject=unsubscribe-{token}"
        link = read_token(token, SECRET)
        assert link is not None
        assert (link.workspace_id, link.lead_id, link.email, link.send_id) == (
            ws,
            f"ld_{i}",
            address,
            send_id,
        )

        html = body(msg, "html")
        assert f"Hi Ada{i}, your score is 72." in html
        assert f'href="{https}"' in html, "the unsubscribe link is never click-tracked"
        assert "https://acme.example/pricing" not in html
        click = html.split('href="https://track.example/t/c/', 1)[1].split('"', 1)[0]
        clicked = verify(click, SECRET)
        assert clicked.url == "https://acme.example/pricing?plan=pro&x=1"
        assert (clicked.send_id, clicked.lead_id, clicked.step_id) == (send_id, f"ld_{i}", "step_1")
        pixel = html.split('src="https://track.example/t/o/', 1)[1].split('"', 1)[0]
        opened = verify(pixel, SECRET)
        assert opened.url is None
        assert opened.send_id == send_id
        assert f"Unsubscribe: {https}" in body(msg, "plain")

        row = await nurture.row(send_id)
        assert row["status"] == "sent"
        assert row["sent_at"] == T0
        assert row["attempts"] == 1
        assert row["last_error"] is None
        assert row["to_email"] == address

    events = await nurture.events()
    assert sorted(e.payload["send_id"] for e in events) == sorted(send_ids)
    sent = events[0]
    assert sent.type == "email.sent"
    assert sent.workspace_id == ws
    assert sent.lead_key == sent.payload["lead_id"]
    assert sent.payload["sequence_id"] == "seq_1"
    assert sent.payload["version"] == 3
    assert sent.payload["variant_id"] == "b"
    assert sent.payload["step_id"] == "step_1"
    assert sent.payload["to"] in addresses

    # A second run (or another worker) finds nothing to send again.
    assert await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0) == 0
    later = T0 + timedelta(hours=1)
    assert await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=later) == 0
    assert len(recorder.received) == 5
    assert len(await nurture.events()) == 5


async def test_a_550_bounces_only_that_address_and_a_451_retries_later(
    nurture: Nurture, smtp: tuple[Recorder, int], settings: NurtureSettings, mailer: Mailer
) -> None:
    recorder, _ = smtp
    ws = workspace()
    await nurture.template(ws)
    recorder.refuse.add("gone@acme.example")
    recorder.tempfail_once.add("busy@acme.example")
    ids = {}
    for name in ("first", "gone", "busy", "last"):
        await nurture.lead(ws, f"ld_{name}", f"{name}@acme.example")
        ids[name] = await nurture.send(ws, f"ld_{name}")

    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0)
    assert sorted(r.rcpt_tos[0] for r in recorder.received) == [
        "first@acme.example",
        "last@acme.example",
    ]
    gone = await nurture.row(ids["gone"])
    assert gone["status"] == "bounced"
    assert gone["last_error"].startswith("550 5.1.1")
    assert await nurture.suppressions(ws) == {
        "gone@acme.example": ("bounced", gone["last_error"]),
    }
    busy = await nurture.row(ids["busy"])
    assert busy["status"] == "queued"
    assert busy["attempts"] == 1
    assert busy["last_error"].startswith("451")
    assert busy["next_attempt_at"] == T0 + timedelta(minutes=1)

    events = await nurture.events()
    bounced = [e for e in events if e.type == "email.bounced"]
    assert len(bounced) == 1
    assert bounced[0].payload["send_id"] == ids["gone"]
    assert bounced[0].payload["kind"] == "hard"
    assert "no such user" in bounced[0].payload["detail"]
    assert sorted(e.payload["send_id"] for e in events if e.type == "email.sent") == sorted(
        [ids["first"], ids["last"]]
    )

    # Not yet due: nothing happens; once due it goes out, once.
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0 + timedelta(seconds=30))
    assert len(recorder.received) == 2
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0 + timedelta(minutes=2))
    assert len(recorder.to("busy@acme.example")) == 1
    busy = await nurture.row(ids["busy"])
    assert (busy["status"], busy["attempts"], busy["last_error"]) == ("sent", 2, None)

    # The bounced address is suppressed for the next email of any sequence.
    again = await nurture.send(ws, "ld_gone", due=T0 + timedelta(days=1))
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0 + timedelta(days=1))
    assert (await nurture.row(again))["status"] == "suppressed"
    assert recorder.to("gone@acme.example") == []


async def test_expired_suppressed_and_unconsented_sends_send_nothing(
    nurture: Nurture, smtp: tuple[Recorder, int], settings: NurtureSettings, mailer: Mailer
) -> None:
    recorder, _ = smtp
    ws = workspace()
    await nurture.template(ws)
    await nurture.lead(ws, "ld_late", "late@acme.example")
    await nurture.lead(ws, "ld_out", "Out@Acme.example")
    await nurture.add(
        models.suppressions, workspace_id=ws, email="out@acme.example", reason="manual"
    )
    late = await nurture.send(
        ws, "ld_late", due=T0 - timedelta(days=2), deadline=T0 - timedelta(hours=1)
    )
    out = await nurture.send(ws, "ld_out")
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0)
    assert (await nurture.row(late))["status"] == "expired"
    out_row = await nurture.row(out)
    assert out_row["status"] == "suppressed"
    assert "manual" in out_row["last_error"]

    # A workspace that requires opt-in mails only leads whose traits say so.
    ws2 = workspace()
    await nurture.template(ws2, "tpl_2")
    await nurture.add(models.workspace_settings, workspace_id=ws2, config={"require_opt_in": True})
    await nurture.lead(ws2, "ld_no", "no@acme.example")
    await nurture.lead(ws2, "ld_yes", "yes@acme.example", email_opt_in=True)
    no = await nurture.send(ws2, "ld_no", template_id="tpl_2")
    yes = await nurture.send(ws2, "ld_yes", template_id="tpl_2")
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0)
    assert (await nurture.row(no))["status"] == "suppressed"
    assert (await nurture.row(yes))["status"] == "sent"
    assert [r.rcpt_tos for r in recorder.received] == [["yes@acme.example"]]


async def test_caps_push_the_second_send_of_the_day_and_quiet_hours_wait(
    nurture: Nurture, smtp: tuple[Recorder, int], settings: NurtureSettings, mailer: Mailer
) -> None:
    recorder, _ = smtp
    ws = workspace()
    await nurture.template(ws)
    await nurture.lead(ws, "ld_1", "ada@acme.example")
    first = await nurture.send(ws, "ld_1", due=T0 - timedelta(minutes=1))
    second = await nurture.send(ws, "ld_1")  # another sequence's email, same day
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0)
    assert len(recorder.received) == 1
    assert (await nurture.row(first))["status"] == "sent"
    pushed = await nurture.row(second)
    assert pushed["status"] == "queued"
    assert pushed["next_attempt_at"] == T0 + timedelta(days=1)  # 1 a day (rolling)

    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0 + timedelta(hours=23))
    assert len(recorder.received) == 1
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0 + timedelta(days=1))
    assert len(recorder.received) == 2
    assert (await nurture.row(second))["status"] == "sent"

    # Due at 20:00 local (quiet hours): it waits for 09:00 the next business day.
    await nurture.lead(ws, "ld_2", "bob@acme.example", timezone="Europe/Paris")
    evening = datetime(2026, 5, 6, 18, 0, tzinfo=UTC)  # Wednesday 20:00 in Paris
    night = await nurture.send(ws, "ld_2", due=evening)
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=evening)
    row = await nurture.row(night)
    assert row["status"] == "queued"
    assert row["next_attempt_at"] == datetime(2026, 5, 7, 7, 0, tzinfo=UTC)  # 09:00 CEST
    assert recorder.to("bob@acme.example") == []


class Killed(BaseException):
    """The worker process dying at a given point."""


class KilledBeforeSmtp(Mailer):
    async def send(self, message: EmailMessage, **kwargs: Any) -> Outcome:
        raise Killed


class KilledAfterAccept(Mailer):
    async def send(self, message: EmailMessage, **kwargs: Any) -> Outcome:
        outcome = await super().send(message, **kwargs)
        assert outcome.kind == "accepted"
        raise Killed  # before the worker could record it


async def test_killed_before_the_smtp_call_it_is_sent_once_after_restart(
    nurture: Nurture, smtp: tuple[Recorder, int], settings: NurtureSettings, mailer: Mailer
) -> None:
    recorder, _ = smtp
    ws = workspace()
    await nurture.template(ws)
    await nurture.lead(ws, "ld_1", "ada@acme.example")
    send_id = await nurture.send(ws, "ld_1")

    with pytest.raises(Killed):
        await deliver_due(
            nurture.uow, KilledBeforeSmtp(host="127.0.0.1", port=1), settings, topic=TOPIC, now=T0
        )
    row = await nurture.row(send_id)
    assert (row["status"], row["last_error"]) == ("sending", None)

    # Restart: too recent a claim is left alone (its worker may be alive) ...
    t1 = T0 + timedelta(seconds=30)
    recovered = await recover_interrupted(
        nurture.uow, older_than=timedelta(minutes=2), topic=TOPIC, now=t1
    )
    assert (recovered.requeued, recovered.assumed_sent) == (0, 0)
    # ... an abandoned one without the in-data marker never reached DATA: requeued.
    t2 = T0 + timedelta(minutes=5)
    recovered = await recover_interrupted(
        nurture.uow, older_than=timedelta(minutes=2), topic=TOPIC, now=t2
    )
    assert (recovered.requeued, recovered.assumed_sent) == (1, 0)
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=t2)
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=t2 + timedelta(hours=1))
    assert len(recorder.to("ada@acme.example")) == 1
    row = await nurture.row(send_id)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert [e.type for e in await nurture.events()] == ["email.sent"]


async def test_killed_after_the_server_accepted_it_is_not_sent_again(
    nurture: Nurture, smtp: tuple[Recorder, int], settings: NurtureSettings, mailer: Mailer
) -> None:
    recorder, _ = smtp
    ws = workspace()
    await nurture.template(ws)
    await nurture.lead(ws, "ld_1", "ada@acme.example")
    send_id = await nurture.send(ws, "ld_1")

    crashing = KilledAfterAccept(host="127.0.0.1", port=settings.smtp_port)
    with pytest.raises(Killed):
        await deliver_due(nurture.uow, crashing, settings, topic=TOPIC, now=T0)
    await crashing.close()
    assert len(recorder.received) == 1
    row = await nurture.row(send_id)
    assert (row["status"], row["last_error"]) == ("sending", IN_DATA)

    t1 = T0 + timedelta(minutes=5)
    recovered = await recover_interrupted(
        nurture.uow, older_than=timedelta(minutes=2), topic=TOPIC, now=t1
    )
    assert (recovered.requeued, recovered.assumed_sent) == (0, 1)
    row = await nurture.row(send_id)
    assert row["status"] == "sent"
    assert row["last_error"].startswith("outcome unknown")
    for later in (t1, t1 + timedelta(days=1)):
        await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=later)
        await recover_interrupted(
            nurture.uow, older_than=timedelta(minutes=2), topic=TOPIC, now=later
        )
    assert len(recorder.received) == 1
    [event] = await nurture.events()
    assert event.type == "email.sent"
    assert event.payload["send_id"] == send_id
    assert event.payload["outcome_unknown"] is True


async def test_a_stale_worker_cannot_send_a_claim_that_was_recovered(
    nurture: Nurture, smtp: tuple[Recorder, int], settings: NurtureSettings, mailer: Mailer
) -> None:
    """A worker that stalled past the recovery age loses its claim: its marker update finds
    the row taken back, so it aborts before DATA and the new owner sends it once."""
    recorder, _ = smtp
    ws = workspace()
    await nurture.template(ws)
    await nurture.lead(ws, "ld_1", "ada@acme.example")
    send_id = await nurture.send(ws, "ld_1")
    later = T0 + timedelta(minutes=10)

    class Stalled(Mailer):
        async def send(self, message: EmailMessage, **kwargs: Any) -> Outcome:
            # Meanwhile: recovery takes the claim back and another worker sends it.
            await recover_interrupted(
                nurture.uow, older_than=timedelta(minutes=2), topic=TOPIC, now=later
            )
            await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=later)
            return await super().send(message, **kwargs)

    stalled = Stalled(host="127.0.0.1", port=settings.smtp_port)
    await deliver_due(nurture.uow, stalled, settings, topic=TOPIC, now=T0)
    await stalled.close()
    assert len(recorder.received) == 1
    row = await nurture.row(send_id)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(await nurture.events()) == 1


async def test_unsubscribe_get_confirms_post_unsubscribes(
    nurture: Nurture, smtp: tuple[Recorder, int], settings: NurtureSettings, mailer: Mailer
) -> None:
    recorder, _ = smtp
    ws = workspace()
    await nurture.template(ws)
    await nurture.lead(ws, "ld_1", "Ada@acme.example")
    first = await nurture.send(ws, "ld_1")
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0)
    [msg] = recorder.received
    url = msg.message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    path = url.removeprefix("https://nurture.example")

    app = FastAPI()
    app.include_router(unsubscribe_router(uow_factory=nurture.uow, secret=SECRET, topic=TOPIC))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://nurture.example") as http:
        page = await http.get(path)  # what a link scanner does
        assert page.status_code == 200
        assert 'method="post"' in page.text
        assert "A***@acme.example" in page.text
        assert await nurture.suppressions(ws) == {}

        tampered = path[:-3] + ("xyz" if not path.endswith("xyz") else "abc")
        assert (await http.get(tampered)).status_code == 404
        assert (
            await http.post(tampered, data={"List-Unsubscribe": "One-Click"})
        ).status_code == 404
        assert await nurture.suppressions(ws) == {}

        # RFC 8058 one-click, twice (a mail client retrying): one suppression, one event.
        for _ in range(2):
            done = await http.post(path, data={"List-Unsubscribe": "One-Click"})
            assert done.status_code == 200
            assert "unsubscribed" in done.text
        again = await http.get(path)
        assert "You are unsubscribed" in again.text

    suppressions = await nurture.suppressions(ws)
    assert list(suppressions) == ["ada@acme.example"]
    assert suppressions["ada@acme.example"][0] == "unsubscribed"
    unsubscribed = [e for e in await nurture.events() if e.type == "email.unsubscribed"]
    assert len(unsubscribed) == 1
    assert unsubscribed[0].payload["send_id"] == first
    assert unsubscribed[0].payload["lead_id"] == "ld_1"
    assert unsubscribed[0].payload["sequence_id"] == "seq_1"
    assert unsubscribed[0].payload["step_id"] == "step_1"

    # The next email to that address is stopped at send time.
    nxt = await nurture.send(ws, "ld_1", due=T0 + timedelta(days=2))
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=T0 + timedelta(days=2))
    assert (await nurture.row(nxt))["status"] == "suppressed"
    assert len(recorder.received) == 1


async def test_several_connections_send_each_email_once_and_record_every_result(
    nurture: Nurture, smtp: tuple[Recorder, int], settings: NurtureSettings
) -> None:
    recorder, _ = smtp
    ws = workspace()
    await nurture.template(ws)
    recorder.refuse.add("lead3@acme.example")
    recorder.tempfail_once.add("lead5@acme.example")
    ids = []
    for i in range(12):
        await nurture.lead(ws, f"ld_{i}", f"lead{i}@acme.example")
        ids.append(await nurture.send(ws, f"ld_{i}"))
    mailers = [Mailer.from_settings(settings) for _ in range(3)]
    try:
        assert await deliver_due(nurture.uow, mailers, settings, topic=TOPIC, now=T0) == 12
    finally:
        for m in mailers:
            await m.close()
    assert [m.connections_opened for m in mailers] == [1, 1, 1]
    delivered = sorted(r.rcpt_tos[0] for r in recorder.received)
    assert delivered == sorted(f"lead{i}@acme.example" for i in range(12) if i not in (3, 5))
    fates = {i: (await nurture.row(send_id))["status"] for i, send_id in enumerate(ids)}
    assert fates == {i: {3: "bounced", 5: "queued"}.get(i, "sent") for i in range(12)}
    events = await nurture.events()
    assert sorted(e.type for e in events) == ["email.bounced"] + ["email.sent"] * 10
    for i in (0, 1, 11):
        assert (await nurture.row(ids[i]))["sent_at"] == T0


@pytest.mark.parametrize("when", ["before_smtp", "after_accept"])
async def test_killed_while_results_wait_to_be_recorded_nothing_is_sent_twice(
    nurture: Nurture,
    smtp: tuple[Recorder, int],
    settings: NurtureSettings,
    mailer: Mailer,
    when: str,
) -> None:
    """Results are committed with the next marker (or at the end of the batch): a worker
    killed in between leaves accepted sends in 'sending' with their marker, and recovery
    records them as sent, never sending them again; the rest go out once."""
    recorder, _ = smtp
    ws = workspace()
    await nurture.template(ws)
    ids = []
    for i in range(6):
        await nurture.lead(ws, f"ld_{i}", f"lead{i}@acme.example")
        ids.append(await nurture.send(ws, f"ld_{i}"))
    calls = 0

    class DiesOnTheFourth(Mailer):
        async def send(self, message: Any, **kwargs: Any) -> Outcome:
            nonlocal calls
            calls += 1
            if calls == 4 and when == "before_smtp":
                raise Killed
            outcome = await super().send(message, **kwargs)
            if calls == 4:
                raise Killed
            return outcome

    dying = [DiesOnTheFourth(host="127.0.0.1", port=settings.smtp_port) for _ in range(2)]
    with pytest.raises(Killed):
        await deliver_due(nurture.uow, dying, settings, topic=TOPIC, now=T0)
    for m in dying:
        await m.close()
    accepted = {r.message["Message-ID"] for r in recorder.received}
    assert len(accepted) == (4 if when == "after_accept" else 3)
    rows = {send_id: await nurture.row(send_id) for send_id in ids}
    for send_id, row in rows.items():
        if f"<{send_id}@leadflow>" in accepted:  # accepted: recorded, or marked in-data
            assert row["status"] == "sent" or (row["status"], row["last_error"]) == (
                "sending",
                IN_DATA,
            )
        else:
            assert row["status"] == "sending"
            assert row["last_error"] is None
    assert any(r["status"] == "sending" and r["last_error"] == IN_DATA for r in rows.values()), (
        "a result was still waiting to be recorded"
    )

    t1 = T0 + timedelta(minutes=5)
    await recover_interrupted(nurture.uow, older_than=timedelta(minutes=2), topic=TOPIC, now=t1)
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=t1)
    await recover_interrupted(
        nurture.uow, older_than=timedelta(minutes=2), topic=TOPIC, now=t1 + timedelta(hours=1)
    )
    await deliver_due(nurture.uow, mailer, settings, topic=TOPIC, now=t1 + timedelta(hours=1))
    ids_received = sorted(str(r.message["Message-ID"]) for r in recorder.received)
    assert ids_received == sorted(f"<{send_id}@leadflow>" for send_id in ids), "each once"
    assert {(await nurture.row(send_id))["status"] for send_id in ids} == {"sent"}
    sent_events = [e.payload["send_id"] for e in await nurture.events() if e.type == "email.sent"]
    assert sorted(sent_events) == sorted(ids)
