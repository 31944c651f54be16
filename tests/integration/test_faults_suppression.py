"""Unsubscribes, bounces and manual suppressions racing with queued sends (issue 8, item 7):
no email starts going out to an address once its suppression is committed.

Three delivery worker processes send three queued emails per lead while the test, at random
moments, unsubscribes some leads (the unsubscribe link's transaction), suppresses others by
hand (the API's), and the SMTP server refuses some addresses once (a bounce, which the
worker records as a suppression). "Starts going out" is the server accepting RCPT TO: an
SMTP transaction already past that point when the suppression commits may finish, one that
reaches it afterwards must not happen.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.nurture.domain.unsubscribe import UnsubscribeToken
from services.nurture.store import suppressions
from services.nurture.store import tables as models
from services.nurture.store.suppressions import unsubscribe
from services.registry import SERVICES
from shared.db.migrations import upgrade
from tests.integration.fault_support import Size, figures, sizes
from tests.integration.smtp_support import Recorder
from tests.integration.support import terminate, wait_for
from tests.integration.test_faults_delivery import ALL_DAY, TOPIC, Workers, statuses
from tests.integration.test_nurture_delivery import Nurture

STEPS = 3


def address(n: int) -> str:
    return f"lead{n}@acme.example"


@pytest.mark.parametrize(
    "size", sizes(Size("quick", events=240, kills=0), Size("soak", events=3_000, kills=0))
)
async def test_no_email_starts_after_an_unsubscribe_bounce_or_suppression_commits(
    size: Size,
    database_url: str,
    engine: AsyncEngine,
    smtp: tuple[Recorder, int],
    tmp_path: Path,
) -> None:
    recorder, port = smtp
    schema = f"t_ns_{uuid.uuid4().hex[:10]}"
    await upgrade(SERVICES["nurture"].migrations, database_url=database_url, schema=schema)
    nurture = Nurture(engine, schema)
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    await nurture.template(ws)
    await nurture.add(
        models.workspace_settings,
        workspace_id=ws,
        config={"send_window": ALL_DAY, "rate_per_minute": 100_000, "caps": []},
    )
    leads = size.events // STEPS
    rng = random.Random(leads)
    now = datetime.now(UTC)
    sends: dict[str, int] = {}  # send id -> lead
    for n in range(leads):
        await nurture.lead(ws, f"ld_{n}", address(n))
    for step in range(STEPS):
        for n in range(leads):
            due = now - timedelta(seconds=rng.uniform(0, 600))
            send_id = await nurture.send(
                ws, f"ld_{n}", due=due, deadline=now + timedelta(days=1), sequence_id=f"seq_{step}"
            )
            sends[send_id] = n
    chosen = rng.sample(range(leads), k=leads // 2)
    third = len(chosen) // 3
    unsubscribing, suppressing, bouncing = (
        chosen[:third],
        chosen[third : 2 * third],
        chosen[2 * third :],
    )
    recorder.refuse_once.update(address(n) for n in bouncing)
    committed: dict[str, float] = {}  # address -> when its suppression was known committed
    stalled = tmp_path / "stalled"
    stalled.mkdir()
    workers = [Workers(nurture, schema, port, stalled).spawn("none") for _ in range(3)]
    watching = asyncio.create_task(_watch_bounces(nurture, ws, bouncing, committed))
    try:
        # Each suppression when the sending has reached a random point of its course.
        racing = unsubscribing + suppressing
        points = sorted(rng.randint(1, (leads - len(chosen)) * STEPS * 8 // 10) for _ in racing)
        for n, point in zip(rng.sample(racing, k=len(racing)), points, strict=True):
            await wait_for(lambda p=point: len(recorder.received) >= p, within=120, what="sends")
            async with nurture.uow() as uow:
                if n in unsubscribing:
                    link = UnsubscribeToken(ws, f"ld_{n}", address(n), "snd_x")
                    await unsubscribe(uow, link, topic=TOPIC)
                else:
                    await suppressions.add_suppression(uow.session, ws, address(n), "manual")
            committed[address(n)] = time.monotonic()
        await wait_for(lambda: _settled(nurture, len(sends)), within=300, what="sends settled")
        await wait_for(watching.done, within=30, what="every bounce recorded")
    finally:
        watching.cancel()
        for proc in workers:
            await terminate(proc)
        fates = await statuses(nurture)
        async with engine.begin() as conn:
            await conn.execute(text(f'drop schema "{schema}" cascade'))

    suppressed = {address(n) for n in chosen}
    after_commit = [
        r
        for r in recorder.received
        for to in r.rcpt_tos
        if to in committed and r.rcpt_at > committed[to]
    ]
    per_recipient = Counter(to for r in recorder.received for to in r.rcpt_tos)
    figures(
        f"suppression-race[{size.name}]",
        sends=len(sends),
        emails=len(recorder.received),
        unsubscribed=len(unsubscribing),
        suppressed_by_hand=len(suppressing),
        bounced=len(bouncing),
        emails_after_commit=len(after_commit),
        emails_to_them_before_commit=sum(per_recipient[a] for a in suppressed),
        fates=dict(fates),
    )
    assert after_commit == []
    assert all(a in committed for a in map(address, bouncing)), "a bounce was not recorded"
    # Everyone else got every step, once.
    others = {address(n) for n in range(leads)} - suppressed
    assert {a: per_recipient[a] for a in others} == dict.fromkeys(others, STEPS)
    assert fates["sending"] == fates["queued"] == 0


async def _watch_bounces(
    nurture: Nurture, ws: str, bouncing: list[int], committed: dict[str, float]
) -> None:
    """Note when each refused address is first seen suppressed: a little after its bounce
    committed, so an email in between is missed, never one wrongly counted."""
    waiting = {address(n) for n in bouncing}
    sup = models.suppressions
    while waiting:
        async with nurture.engine.connect() as conn:
            found = set(
                (
                    await conn.scalars(
                        select(sup.c.email).where(
                            sup.c.workspace_id == ws, sup.c.email.in_(waiting)
                        )
                    )
                ).all()
            )
        seen = time.monotonic()
        for email in found:
            committed[email] = seen
        waiting -= found
        await asyncio.sleep(0.01)


async def _settled(nurture: Nurture, n: int) -> bool:
    fates = await statuses(nurture)
    return sum(fates.values()) == n and fates["queued"] == fates["sending"] == 0
