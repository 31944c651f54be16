"""Nurture delivery workers killed at the worst moments, three at once (issue 8, item 6).

Three worker processes (tests/integration/procs/delivery.py: the real delivery loop, real
SMTP to aiosmtpd) share the due sends of one schema. In each round one dies before an SMTP
call, one right after the server accepted a message (before the result is recorded); then
the third gets a send the server leaves hanging and is killed while it waits (an SMTP
time-out in progress). Between rounds the dead workers' claims are aged past the abandonment
limit and the restart rule (`recover_interrupted`) runs. One address is refused with a 550.

Each worker keeps one SMTP connection: with several, a kill would also cut other
transactions in the middle of DATA, whose outcome is unknown and which are, by design,
never sent again (never twice comes before at least once).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.nurture.settings import NurtureSettings
from services.nurture.store import tables as models
from services.nurture.workers.delivery import interrupted_after, recover_interrupted
from services.registry import SERVICES
from shared.db.migrations import upgrade
from tests.integration.fault_support import Size, figures, sizes
from tests.integration.smtp_support import Recorder
from tests.integration.support import ROOT, terminate, wait_exit, wait_for
from tests.integration.test_nurture_delivery import Nurture

TOPIC = "test.email-events"
REFUSED = "refused@acme.example"
REFUSED_LEAD = 7  # the lead whose address the server refuses (550)
ALL_DAY = {"start": "00:00", "end": "23:59:59", "days": [1, 2, 3, 4, 5, 6, 7]}


def address(n: int) -> str:
    return f"lead{n}@acme.example"


class Workers:
    def __init__(self, nurture: Nurture, schema: str, smtp_port: int, stalled: Path) -> None:
        self.nurture = nurture
        self.schema = schema
        self.spawned: list[subprocess.Popen[bytes]] = []
        self.stalled = stalled
        self.env = {
            **os.environ,
            "NURTURE_SMTP_HOST": "127.0.0.1",
            "NURTURE_SMTP_PORT": str(smtp_port),
            "NURTURE_SMTP_CONNECTIONS": "1",
            "NURTURE_SMTP_TIMEOUT_SECONDS": "10",
            "NURTURE_SCHEDULER_EVERY_SECONDS": "0.2",
            "LEADFLOW_SECRET_KEY": "integration-secret",
        }

    async def start_round(self, rng: random.Random) -> dict[str, subprocess.Popen[bytes]]:
        """Three workers, each with its fault, once all three are up."""
        ready = [self.stalled.parent / f"ready-{uuid.uuid4().hex[:6]}" for _ in range(3)]
        procs = {
            "before-smtp": self.spawn(f"before-smtp:{rng.randint(1, 4)}", ready=ready[0]),
            "after-accept": self.spawn(f"after-accept:{rng.randint(1, 4)}", ready=ready[1]),
            "during-timeout": self.spawn("none", stall=True, ready=ready[2]),
        }
        await wait_for(lambda: all(r.exists() for r in ready), within=60, what="workers up")
        return procs

    def spawn(
        self, die: str, *, stall: bool = False, ready: Path | None = None
    ) -> subprocess.Popen[bytes]:
        args = ["--schema", self.schema, "--topic", TOPIC, "--die", die]
        if stall:
            args += ["--stalled-dir", str(self.stalled)]
        if ready:
            args += ["--ready-file", str(ready)]
        with (self.stalled.parent / "workers.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.integration.procs.delivery", *args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.spawned.append(proc)
        return proc


async def statuses(nurture: Nurture) -> Counter[str]:
    async with nurture.engine.connect() as conn:
        rows = await conn.execute(
            select(models.sends.c.status, func.count()).group_by(models.sends.c.status)
        )
        return Counter({r[0]: r[1] for r in rows})


@pytest.mark.parametrize(
    "size", sizes(Size("quick", events=60, kills=1), Size("soak", events=120, kills=5))
)
async def test_three_workers_killed_mid_send_send_each_email_once(
    size: Size,
    database_url: str,
    engine: AsyncEngine,
    smtp: tuple[Recorder, int],
    tmp_path: Path,
) -> None:
    """`size.kills` rounds, each of three kills over `size.events` new sends."""
    recorder, port = smtp
    schema = f"t_nf_{uuid.uuid4().hex[:10]}"
    await upgrade(SERVICES["nurture"].migrations, database_url=database_url, schema=schema)
    nurture = Nurture(engine, schema)
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    await nurture.template(ws)
    await nurture.add(
        models.workspace_settings,
        workspace_id=ws,
        config={"send_window": ALL_DAY, "rate_per_minute": 100_000},
    )
    recorder.refuse.add(REFUSED)
    stalled = tmp_path / "stalled"
    stalled.mkdir()
    workers = Workers(nurture, schema, port, stalled)
    rng = random.Random(size.events)
    kills: Counter[str] = Counter()
    recovered = {"requeued": 0, "assumed_sent": 0}
    leads = 0
    try:
        for _ in range(size.kills):
            procs = await workers.start_round(rng)
            # The round's sends, one to the refused address, once all three are listening.
            for n in range(leads, leads + size.events):
                await _due_send(nurture, ws, n, REFUSED if n == REFUSED_LEAD else address(n))
            leads += size.events
            for kind in ("before-smtp", "after-accept"):
                assert await wait_exit(procs[kind], within=120) == -signal.SIGKILL, kind
                kills[kind] += 1
            # Then a send the server leaves hanging, for the worker left.
            recorder.stall_once.add(address(leads))
            await _due_send(nurture, ws, leads, address(leads))
            leads += 1
            await wait_for(lambda: any(stalled.iterdir()), within=120, what="a hanging send")
            [path] = list(stalled.iterdir())
            assert int(path.name) == procs["during-timeout"].pid
            path.unlink()
            procs["during-timeout"].send_signal(signal.SIGKILL)
            assert await wait_exit(procs["during-timeout"]) == -signal.SIGKILL
            kills["during-timeout"] += 1
            # The restart rule, as it runs once the dead workers' claims are old enough: the
            # claims are made that old (instead of waiting the real 60 s and more).
            age = interrupted_after(NurtureSettings(smtp_timeout_seconds=10))
            async with nurture.engine.begin() as conn:
                await conn.execute(
                    update(models.sends)
                    .where(models.sends.c.status == "sending")
                    .values(claimed_at=models.sends.c.claimed_at - age - timedelta(seconds=1))
                )
            done = await recover_interrupted(
                nurture.uow, older_than=age, topic=TOPIC, now=datetime.now(UTC)
            )
            recovered["requeued"] += done.requeued
            recovered["assumed_sent"] += done.assumed_sent
        finishers = [workers.spawn("none") for _ in range(3)]
        try:
            await wait_for(lambda: _settled(nurture, leads), within=300, what="every send settled")
        finally:
            for proc in finishers:
                await terminate(proc)
        fates = await statuses(nurture)
        async with nurture.engine.connect() as conn:
            bounced = (
                await conn.scalars(
                    select(models.sends.c.lead_id).where(models.sends.c.status == "bounced")
                )
            ).all()
    finally:
        for proc in workers.spawned:
            if proc.poll() is None:
                proc.kill()
        async with engine.begin() as conn:
            await conn.execute(text(f'drop schema "{schema}" cascade'))

    per_recipient = Counter(to for r in recorder.received for to in r.rcpt_tos)
    expected = {address(n) for n in range(leads) if n != REFUSED_LEAD}
    figures(
        f"delivery-kills[{size.name}]",
        sends=leads,
        emails_received=len(recorder.received),
        recipients_twice=sum(1 for n in per_recipient.values() if n > 1),
        missing=len(expected - set(per_recipient)),
        kills=sum(kills.values()),
        kills_by_point=dict(kills),
        requeued_after_kill=recovered["requeued"],
        recorded_sent_after_kill=recovered["assumed_sent"],
        fates=dict(fates),
    )
    assert max(per_recipient.values()) == 1, "a recipient got the step twice"
    assert set(per_recipient) == expected, "a due email is missing"
    assert REFUSED not in per_recipient
    assert bounced == [f"ld_{REFUSED_LEAD}"]  # the refused address failed, alone
    assert fates == Counter({"sent": leads - 1, "bounced": 1})
    assert kills == Counter(
        {"before-smtp": size.kills, "after-accept": size.kills, "during-timeout": size.kills}
    )


async def _due_send(nurture: Nurture, ws: str, n: int, to: str) -> None:
    now = datetime.now(UTC)
    await nurture.lead(ws, f"ld_{n}", to)
    await nurture.send(ws, f"ld_{n}", due=now, deadline=now + timedelta(days=1))


async def _settled(nurture: Nurture, n: int) -> bool:
    fates = await statuses(nurture)
    return fates["sent"] + fates["bounced"] + fates["failed"] == n
