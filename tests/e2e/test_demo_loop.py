"""The whole loop on the demo `make run` sets up, across all four services on real Kafka,
PostgreSQL, SMTP and Chromium: visitors browse the demo site and ask for a demo; they are
scored and become MQLs; the one whose office hours it is gets the first email now (in her
local time), the other is queued for nine o'clock his time; her tracked click comes back
through ingest and raises her score; she unsubscribes in one click and gets nothing more;
reporting's funnel counts both in the stages they reached."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Browser, BrowserContext

from shared.net import free_port
from tests.e2e.test_ingest_to_scoring import keen_buyer_batch
from tests.integration.ingest_server import IngestServer, four_services
from tests.integration.smtp_support import Recorder
from tests.integration.support import ROOT, terminate, wait_for

OFFICE_HOURS = {"start": "09:00", "end": "17:00", "days": [1, 2, 3, 4, 5, 6, 7]}


def zone_where_it_is(hours: range, now: datetime) -> str:
    """A fixed-offset IANA zone (Etc/GMT-N is UTC+N) whose local hour is in `hours` now.
    Never offset 0: Chromium reports Etc/GMT as "UTC", so the zone read back would differ."""
    for offset in sorted((o for o in range(-12, 15) if o), key=abs):
        name = f"Etc/GMT{-offset:+d}"
        if now.astimezone(ZoneInfo(name)).hour in hours:
            return name
    raise AssertionError(f"no zone has an hour in {hours} at {now}")


async def test_the_demo_loop_from_a_browser_visit_to_the_funnel(
    browser: Browser, smtp: tuple[Recorder, int], artifacts: Path, tmp_path: Path
) -> None:
    recorder, smtp_port = smtp
    site_port = free_port()
    site = f"http://127.0.0.1:{site_port}"
    async with four_services(smtp_port) as (ingest, scoring, reporting, nurture):
        # What `make run` does: the demo workspace with its sequence, then the demo site.
        cli = dataclasses.replace(
            ingest,
            env={
                **ingest.env,
                "DEMO_INGEST_URL": ingest.url,
                "DEMO_SCORING_URL": scoring.url,
                "DEMO_NURTURE_URL": nurture.url,
                "DEMO_REPORTING_URL": reporting.url,
            },
        )
        state = tmp_path / "demo.json"
        printed = await asyncio.to_thread(
            cli.run_cli, "demo", "setup", "--state", str(state), "--site", site
        )
        keys = dict(re.findall(r"^(write key|API key|nurture sequence)\s+(\S+)", printed, re.M))
        auth = {"Authorization": f"Bearer {keys['API key']}"}
        site_proc = _start_site(cli, state, site_port)
        try:
            await wait_for(lambda: _answers(site), within=30, what="the demo site")
            await wait_for(lambda: ingest.knows(keys["write key"]), within=30, what="the key")
            async with (
                httpx.AsyncClient(base_url=nurture.url, headers=auth) as api,
                httpx.AsyncClient(base_url=scoring.url, headers=auth) as leads,
                httpx.AsyncClient(base_url=reporting.url, headers=auth) as bi,
            ):
                await _loop(browser, recorder, artifacts, site, keys, api, leads, bi, nurture)
                # The sentinel instead of a fixed sleep: a later visitor's welcome, due now,
                # goes through the same pipeline, scheduler and sender. Once it is out and
                # recorded, a wrong send (to Ada after unsubscribing, to Bob before nine)
                # would be out too.
                await _welcome_a_later_mql(ingest.url, keys, api, recorder)
                assert len(recorder.to("ada@analytical.example")) == 1
                assert recorder.to("bob@babbage.example") == []
        finally:
            await terminate(site_proc)


async def _loop(
    browser: Browser,
    recorder: Recorder,
    artifacts: Path,
    site: str,
    keys: dict[str, str],
    api: httpx.AsyncClient,
    leads: httpx.AsyncClient,
    bi: httpx.AsyncClient,
    nurture: IngestServer,
) -> None:
    seq_id = keys["nurture sequence"]
    # The demo sends at any hour; office hours here, so local time matters.
    config = await api.put("/v1/nurture/config", json={"send_window": OFFICE_HOURS, "caps": []})
    assert config.status_code == 200, config.text
    now = datetime.now(UTC)
    ada_zone = zone_where_it_is(range(11, 15), now)  # mid-afternoon at the latest
    bob_zone = zone_where_it_is(range(1, 6), now)  # the small hours

    ada = await browser.new_context(timezone_id=ada_zone)
    bob = await browser.new_context(timezone_id=bob_zone)
    try:
        await _visit_and_ask_for_a_demo(ada, site, "Ada", "ada@analytical.example", artifacts)
        await _visit_and_ask_for_a_demo(bob, site, "Bob", "bob@babbage.example", artifacts)
        ada_lead = await _mql(leads, "ada@analytical.example")
        bob_lead = await _mql(leads, "bob@babbage.example")
        assert ada_lead["traits"]["timezone"] == ada_zone  # from her browser, via the form

        # Ada's first email arrives now, inside her office hours.
        await wait_for(
            lambda: bool(recorder.to("ada@analytical.example")), within=60, what="Ada's email"
        )
        [got] = recorder.received_by("ada@analytical.example")
        local = got.at.astimezone(ZoneInfo(ada_zone))
        assert 9 <= local.hour < 17, local
        assert got.message["Subject"] == "Welcome to Northwind, Ada"

        # Bob's waits for nine o'clock his time; nothing is sent to him before that.
        # (The scheduler picks the new enrollment up within a moment and dates its email.)
        bob_tz = ZoneInfo(bob_zone)

        async def bob_due() -> datetime | None:
            answer = await api.get("/v1/enrollments", params={"lead_id": bob_lead["id"]})
            rows = answer.json()
            if len(rows) == 1 and rows[0]["next_at"]:
                due = datetime.fromisoformat(rows[0]["next_at"]).astimezone(bob_tz)
                return due if due > datetime.now(UTC) + timedelta(hours=1) else None
            return None

        due = await wait_for(bob_due, within=30, what="Bob's email to be dated")
        bob_now = datetime.now(UTC).astimezone(bob_tz)
        assert (due.date(), due.hour, due.minute) == (bob_now.date(), 9, 0), due
        assert recorder.to("bob@babbage.example") == []

        # Ada clicks the guide link in her browser: ingest records the click and redirects.
        body = got.message.get_body(("html",))
        assert body is not None
        html = body.get_content()
        tracked = re.search(r'href="(http://127\.0\.0\.1:\d+/t/c/[^"]+)"', html)
        assert tracked is not None, html
        before = (await leads.get(f"/v1/leads/{ada_lead['id']}")).json()
        page = await ada.new_page()
        await page.goto(tracked.group(1))
        assert page.url == f"{site}/guide"
        await page.screenshot(path=str(artifacts / "demo-guide-after-click.png"))

        async def clicked() -> dict[str, Any] | None:
            found = (await leads.get(f"/v1/leads/{ada_lead['id']}")).json()
            return found if found["features"]["email_clicks_7d"] == 1 else None

        after = await wait_for(clicked, within=30, what="the click in Ada's score")
        assert after["probability"] > before["probability"]
        assert after["score"] >= before["score"]
    finally:
        await ada.close()
        await bob.close()

    # One-click unsubscribe, as a mail client does it: she is out, and gets nothing more.
    unsubscribe = got.message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    async with httpx.AsyncClient() as mail_client:
        done = await mail_client.post(
            unsubscribe,
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert done.status_code == 200

    async def exited() -> bool:
        rows = (await api.get("/v1/enrollments", params={"lead_id": ada_lead["id"]})).json()
        return [(e["status"], e["exit_reason"]) for e in rows] == [("exited", "unsubscribed")]

    await wait_for(exited, within=30, what="Ada's enrollment to end")
    results = (await api.get(f"/v1/sequences/{seq_id}/results")).json()
    assert results["enrollments"]["enrolled"] == 2
    assert [(s["step_id"], s["sent"], s["clicked"]) for s in results["steps"]][:1] == [
        ("welcome", 1, 1)
    ]

    # Reporting: both visitors reached subscriber, lead and MQL today; nobody went further.
    today = datetime.now(UTC).date()
    days = {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()}

    async def funnel() -> list[tuple[str, int]] | None:
        rows = (await bi.get("/v1/funnel", params=days)).json()["stages"]
        found = [(r["stage"], r["reached"]) for r in rows]
        return found if found[2] == ("mql", 2) else None

    stages = await wait_for(funnel, within=30, what="both MQLs in the funnel")
    assert stages == [
        ("subscriber", 2),
        ("lead", 2),
        ("mql", 2),
        ("sql", 0),
        ("opportunity", 0),
        ("customer", 0),
    ]


async def _welcome_a_later_mql(
    ingest_url: str, keys: dict[str, str], api: httpx.AsyncClient, recorder: Recorder
) -> None:
    batch = keen_buyer_batch("cy-browser", "cy", "cy@sentinel.example")
    traits = batch["batch"][2]["traits"]
    traits["timezone"] = zone_where_it_is(range(11, 15), datetime.now(UTC))  # office hours
    async with httpx.AsyncClient(base_url=ingest_url, auth=(keys["write key"], "")) as track:
        assert (await track.post("/v1/batch", json=batch)).status_code == 200
    await wait_for(
        lambda: bool(recorder.to("cy@sentinel.example")), within=60, what="a later welcome"
    )

    async def welcomes_sent() -> bool:
        found = (await api.get(f"/v1/sequences/{keys['nurture sequence']}/results")).json()
        return [(s["step_id"], s["sent"]) for s in found["steps"]][:1] == [("welcome", 2)]

    await wait_for(welcomes_sent, within=30, what="Ada's and the later welcome recorded as sent")


async def _visit_and_ask_for_a_demo(
    context: BrowserContext, site: str, name: str, email: str, artifacts: Path
) -> None:
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    for path in ("/", "/pricing", "/blog/lead-scoring-101", "/pricing", "/guide", "/demo"):
        await page.goto(site + path)
    await page.get_by_label("First name").fill(name)
    await page.get_by_label("Work email").fill(email)
    await page.get_by_label("Job title").select_option("CEO")
    await page.get_by_label("Company size (employees)").fill("2000")
    await page.screenshot(path=str(artifacts / f"demo-form-{name.lower()}.png"))
    await page.get_by_role("button", name="Request a demo").click()
    await page.get_by_role("status").wait_for()
    await page.close()  # the tracker sends what is queued when the page goes away
    assert errors == []


async def _mql(leads: httpx.AsyncClient, email: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        items = (await leads.get("/v1/leads", params={"email": email})).json()["items"]
        if items and items[0]["stage"] == "mql":
            return dict((await leads.get(f"/v1/leads/{items[0]['id']}")).json())
        return None

    lead: dict[str, Any] = await wait_for(found, within=60, what=f"{email} to become an MQL")
    return lead


def _start_site(cli: IngestServer, state: Path, port: int) -> subprocess.Popen[bytes]:
    """`leadflow demo site`, as `make run` starts it."""
    args = ["demo", "site", "--state", str(state), "--port", str(port), "--ingest", cli.url]
    return subprocess.Popen([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=cli.env)


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(url)).status_code == 200
    except httpx.TransportError:
        return False
