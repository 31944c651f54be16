"""Nurture delivery benchmarks: emails/s of one delivery worker to a real local SMTP server,
duplicates, and due-to-accepted latency.

The SMTP server is aiosmtpd in a process of its own (it shares neither the worker's event
loop nor its GIL); it records every accepted message's Message-ID and the wall-clock time it
accepted it. Each run gets a fresh database (``leadflow_bench_nurture``) migrated with the
nurture schema, one workspace whose caps and rate are set high enough not to be what is
measured (send window: all day, every day), N leads and one queued send each, and then the
real delivery loop (``delivery.run_forever``) runs in this process until the server has
accepted all N.

Figures, each beside a baseline from the same run:

- emails/s (median of the repeats) beside a bare aiosmtplib loop sending the same composed
  messages over one reused connection;
- duplicates (Message-IDs the server accepted more than once; must be 0) beside N;
- due->accepted p99 with sends becoming due at 100/s for ~10 s (accepted time at the server
  minus the send's ``next_attempt_at``), beside the p50.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import re
import statistics
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import harness
from bench.harness import Figure
from services.nurture.adapters.mailer import Mailer
from services.nurture.domain.message import compose
from services.nurture.domain.templating import TemplateParts, lead_context, render
from services.nurture.settings import NurtureSettings
from services.nurture.store import tables as models
from services.nurture.workers import delivery
from services.registry import SERVICES
from shared.db import UnitOfWork, create_engine, create_session_factory
from shared.db.migrations import upgrade

CONNECTIONS = 8  # SMTP connections of the one worker (each reused for all its sends)
WORKSPACE = "ws_bench"
SEQUENCE = "seq_bench"
TEMPLATE = "tpl_bench"
TOPIC = "bench.email-events"
SECRET = "bench-secret"
SUBJECT = "Welcome {{ lead.first_name | default('there') }} to {{ workspace }}"
HTML = (
    "<html><body><p>Hi {{ lead.first_name | default('there') }}, your score is {{ score }}.</p>"
    "<p>Teams like yours cut their follow-up time in half. Here is how.</p>"
    '<p><a href="https://acme.example/pricing?plan=pro&amp;x=1">Pricing</a> or '
    '<a href="https://acme.example/case-study">read the case study</a>.</p>'
    '<p><a data-leadflow="unsubscribe" href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
    "</body></html>"
)
TEXT = (
    "Hi {{ lead.first_name | default('there') }}! Teams like yours cut their follow-up time "
    "in half: https://acme.example/case-study\n\nUnsubscribe: {{ unsubscribe_url }}\n"
)
CONFIG = {
    "timezone": "UTC",
    "send_window": {"start": "00:00", "end": "23:59:59.999999", "days": [1, 2, 3, 4, 5, 6, 7]},
    "caps": [{"max": 100, "per": "P1D"}],
    "rate_per_minute": 1_000_000,  # the most NurtureConfig allows: no limit in practice
    "from_address": "news@leadflow.example",
    "from_name": "LeadFlow",
}


# --- the SMTP server, in a process of its own ------------------------------------------------

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


def _smtp_server(port: int, count: Any, conn: multiprocessing.connection.Connection) -> None:
    """Child process: aiosmtpd on 127.0.0.1:port; counts accepted messages in ``count``; on
    any message from ``conn`` answers with [(message_id, accepted_at), ...] and stops."""
    from aiosmtpd.controller import Controller

    seen: list[tuple[str, float]] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            content = envelope.original_content or b""
            head = content.split(b"\r\n\r\n", 1)[0]
            found = _MESSAGE_ID.search(head)
            seen.append((found.group(1).decode() if found else "", time.time()))
            count.value += 1
            return "250 2.0.0 queued"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    conn.send("ready")
    conn.recv()
    controller.stop()
    conn.send(seen)


class SmtpServer:
    def __init__(self, port: int, count: Any, conn: multiprocessing.connection.Connection):
        self.port = port
        self._count = count
        self._conn = conn

    @property
    def accepted(self) -> int:
        return int(self._count.value)


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[SmtpServer, list[tuple[str, float]]]]:
    """A fresh server process; after the block, the list holds what it accepted."""
    from shared.net import free_port

    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    count = ctx.Value("l", 0, lock=False)
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_smtp_server, args=(port, count, theirs), daemon=True)
    proc.start()
    if not ours.poll(60) or ours.recv() != "ready":
        proc.kill()
        raise RuntimeError("the SMTP server process did not start")
    received: list[tuple[str, float]] = []
    try:
        yield SmtpServer(port, count, ours), received
    finally:
        ours.send("stop")
        received.extend(ours.recv())
        proc.join(10)


# --- the database ----------------------------------------------------------------------------


async def fresh_database() -> str:
    """A new, empty database with the nurture schema: its URL."""
    database = await harness.fresh_database("leadflow_bench_nurture")
    await upgrade(SERVICES["nurture"].migrations, database_url=database, schema="nurture")
    return database


async def setup(engine: AsyncEngine, due: list[datetime]) -> None:
    """The workspace, its template and active sequence, one lead and one queued send per
    due time."""
    n = len(due)
    async with engine.begin() as conn:
        await conn.execute(
            insert(models.workspace_settings).values(workspace_id=WORKSPACE, config=CONFIG)
        )
        await conn.execute(
            insert(models.templates).values(
                id=TEMPLATE,
                workspace_id=WORKSPACE,
                name="Welcome",
                subject=SUBJECT,
                html=HTML,
                text=TEXT,
            )
        )
        await conn.execute(
            insert(models.sequences).values(
                id=SEQUENCE, workspace_id=WORKSPACE, name="s", status="active", current_version=1
            )
        )
        await conn.execute(
            insert(models.leads),
            [
                {
                    "workspace_id": WORKSPACE,
                    "lead_id": f"ld_{i}",
                    "email": f"lead{i}@acme.example",
                    "traits": {"email": f"lead{i}@acme.example", "first_name": f"Ada{i}"},
                    "score": 50 + i % 50,
                    "stage": "mql",
                }
                for i in range(n)
            ],
        )
        await conn.execute(
            insert(models.sends),
            [
                {
                    "id": f"snd_{i:06d}",
                    "send_key": f"enr_{i}:step_1",
                    "workspace_id": WORKSPACE,
                    "enrollment_id": f"enr_{i}",
                    "lead_id": f"ld_{i}",
                    "sequence_id": SEQUENCE,
                    "version": 1,
                    "step_id": "step_1",
                    "variant_id": None,
                    "template_id": TEMPLATE,
                    "message_id": f"snd_{i:06d}@leadflow",
                    "status": "queued",
                    "not_before": at,
                    "deadline": at + timedelta(days=1),
                    "next_attempt_at": at,
                }
                for i, at in enumerate(due)
            ],
        )
        await conn.execute(text("analyze nurture.sends"))


async def statuses(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(models.sends.c.status, func.count()).group_by(models.sends.c.status)
        )
        return {status: int(count) for status, count in rows}


async def due_times(engine: AsyncEngine) -> dict[str, float]:
    """Message-ID -> when the send became due (its first next_attempt_at: not_before here)."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(models.sends.c.message_id, models.sends.c.not_before))
        return {f"<{mid}>": at.timestamp() for mid, at in rows}


def settings_for(port: int) -> NurtureSettings:
    return NurtureSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_seconds=10,
        public_url="https://nurture.example",
        tracking_url="https://track.example",
        secret_key=SECRET,
    )


@contextlib.asynccontextmanager
async def worker(database: str, settings: NurtureSettings, connections: int) -> AsyncIterator[None]:
    """The real delivery loop (one worker, ``connections`` SMTP connections) until the block
    ends."""
    engine = create_engine(database)
    sessions = create_session_factory(engine)
    mailers = [Mailer.from_settings(settings) for _ in range(connections)]
    stop = asyncio.Event()

    def uow() -> UnitOfWork:
        return UnitOfWork(sessions, inbox=models.inbox, outbox=models.outbox)

    task = asyncio.create_task(
        delivery.run_forever(
            uow, mailers, settings, topic=TOPIC, stop=stop, workspace_name=lambda w: "Acme"
        )
    )
    try:
        yield
    finally:
        stop.set()
        await task
        for mailer in mailers:
            await mailer.close()
        await engine.dispose()


async def wait_for(server: SmtpServer, n: int, within: float) -> None:
    deadline = time.perf_counter() + within
    while server.accepted < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {server.accepted} of {n} accepted in {within} s")
        await asyncio.sleep(0.005)


# --- scenarios ---------------------------------------------------------------------------------


def messages(n: int) -> list[tuple[str, str, bytes]]:
    """The same kind of message the worker sends (the template rendered for each lead and
    composed): (sender, recipient, bytes)."""
    out = []
    now = datetime.now(UTC)
    for i in range(n):
        to = f"lead{i}@acme.example"
        context = lead_context(
            {"lead_id": f"ld_{i}", "email": to, "traits": {"first_name": f"Ada{i}"}, "score": 50}
        )
        url = f"https://nurture.example/u/{uuid.uuid4().hex * 3}"
        context.update(workspace="Acme", unsubscribe_url=url, preferences_url=url, now=now)
        rendered = render(TemplateParts(subject=SUBJECT, html=HTML, text=TEXT), context)
        message = compose(
            message_id=f"base_{i}@leadflow",
            from_address="news@leadflow.example",
            from_name="LeadFlow",
            to=to,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            unsubscribe_url=url,
            unsubscribe_token=url.rsplit("/", 1)[1],
            date=now,
        )
        out.append(("news@leadflow.example", to, message.data))
    return out


async def bare_loop(n: int) -> float:
    """Baseline: aiosmtplib over one reused connection, MAIL/RCPT/DATA per message."""
    prepared = messages(n)
    with smtp_server() as (server, _):
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, timeout=10)
        await smtp.connect()
        try:
            start = time.perf_counter()
            for sender, recipient, data in prepared:
                await smtp.sendmail(sender, [recipient], data)
            elapsed = time.perf_counter() - start
        finally:
            await smtp.quit()
    return n / elapsed


async def throughput_run(n: int, connections: int) -> tuple[float, int, dict[str, int]]:
    database = await fresh_database()
    engine = create_engine(database)
    try:
        await setup(engine, [datetime.now(UTC) - timedelta(seconds=1)] * n)
        with smtp_server() as (server, received):
            async with worker(database, settings_for(server.port), connections):
                start = time.perf_counter()
                await wait_for(server, n, within=600)
                elapsed = time.perf_counter() - start
                await asyncio.sleep(0.5)  # anything sent twice would arrive now
        counts = Counter(mid for mid, _ in received)
        duplicates = sum(c - 1 for c in counts.values() if c > 1)
        return n / elapsed, duplicates, await statuses(engine)
    finally:
        await engine.dispose()


async def throughput(n: int, repeats: int, connections: int) -> tuple[list[Figure], dict[str, Any]]:
    rates, baselines, duplicates, fates = [], [], [], []
    for _ in range(repeats):
        baselines.append(await bare_loop(n))
        rate, dups, status = await throughput_run(n, connections)
        rates.append(rate)
        duplicates.append(dups)
        fates.append(status)
    figures = [
        Figure(
            f"nurture: emails delivered ({connections} conn)",
            "emails/s",
            statistics.median(rates),
            "bare aiosmtplib loop, 1 conn",
            statistics.median(baselines),
            repeats,
        ),
        Figure(
            "nurture: duplicate emails",
            "emails",
            max(duplicates),
            "emails per run",
            n,
            repeats,
        ),
    ]
    details = {
        "emails_per_run": n,
        "connections": connections,
        "runs_emails_per_s": [round(r) for r in rates],
        "baseline_runs_emails_per_s": [round(r) for r in baselines],
        "duplicates_per_run": duplicates,
        "statuses_per_run": fates,
    }
    return figures, details


async def latency(rate: int, seconds: float, connections: int) -> tuple[Figure, dict[str, Any]]:
    """Sends that become due at ``rate``/s for ``seconds``: due->accepted at the server."""
    n = int(rate * seconds)
    database = await fresh_database()
    engine = create_engine(database)
    try:
        start = datetime.now(UTC) + timedelta(seconds=2)
        await setup(engine, [start + timedelta(seconds=i / rate) for i in range(n)])
        with smtp_server() as (server, received):
            async with worker(database, settings_for(server.port), connections):
                await wait_for(server, n, within=seconds + 120)
        due = await due_times(engine)
    finally:
        await engine.dispose()
    delays = [(at - due[mid]) * 1000 for mid, at in received]
    p = statistics.quantiles(delays, n=100)
    figure = Figure(
        f"nurture: due->accepted p99 at {rate}/s",
        "ms",
        p[98],
        "due->accepted p50",
        p[49],
        1,
    )
    return figure, {
        "sends": n,
        "connections": connections,
        "p50_ms": round(p[49], 1),
        "p90_ms": round(p[89], 1),
        "p99_ms": round(p[98], 1),
        "max_ms": round(max(delays), 1),
    }


async def run(
    repeats: int, n: int = 3000, connections: int = CONNECTIONS
) -> tuple[list[Figure], dict[str, object]]:
    figures, through = await throughput(n, repeats, connections)
    # The same worker on one connection (what a single Mailer gives), one run.
    single, single_details = await throughput(n, 1, 1)
    late, late_details = await latency(rate=100, seconds=10, connections=connections)
    return [*figures, single[0], late], {
        "throughput": through,
        "throughput_one_connection": single_details,
        "latency": late_details,
    }
