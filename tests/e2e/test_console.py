"""The web console in a real headless Chromium, against real ingest, scoring, nurture and
reporting (real Kafka, PostgreSQL and SMTP): a marketer signs in with the workspace's API key,
finds an MQL and accepts it, writes a template with a live preview, builds a sequence (with a
mistake the API catches, shown next to the field) and activates it, sees the funnel and
downloads it as CSV, changes settings, and signs out. No page logs a console error.
Screenshots of every page, at laptop and phone widths, go to test-artifacts/console/."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.e2e.test_ingest_to_scoring import keen_buyer_batch
from tests.e2e.test_mql_to_inbox import WELCOME
from tests.integration.ingest_server import IngestServer, four_services, service_server
from tests.integration.smtp_support import Recorder
from tests.integration.support import wait_for
from tools.simulation import simulate, traffic

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class Console:
    """A browser context on the console that remembers every console error it saw."""

    def __init__(self, context: BrowserContext, url: str, shots: Path, width: str) -> None:
        self.context = context
        self.url = url
        self.shots = shots
        self.width = width
        self.errors: list[str] = []

    async def page(self) -> Page:
        page = await self.context.new_page()
        page.on(
            "console",
            lambda m: self.errors.append(f"{page.url}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        return page

    async def shot(self, page: Page, name: str) -> None:
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=self.shots / f"{name}-{self.width}.png", full_page=True)


@pytest.fixture
async def services(smtp: tuple[Recorder, int]) -> AsyncIterator[dict[str, IngestServer]]:
    _, smtp_port = smtp
    async with (
        four_services(smtp_port) as (ingest, scoring, reporting, nurture),
        service_server(
            "console",
            prefix=ingest.topics.prefix,
            CONSOLE_INGEST_URL=ingest.url,
            CONSOLE_SCORING_URL=scoring.url,
            CONSOLE_NURTURE_URL=nurture.url,
            CONSOLE_REPORTING_URL=reporting.url,
        ) as console,
    ):
        yield {
            "ingest": ingest,
            "scoring": scoring,
            "nurture": nurture,
            "reporting": reporting,
            "console": console,
        }


async def _an_mql(services: dict[str, IngestServer], ws: dict[str, Any]) -> str:
    """Grace, a keen buyer, sent through ingest until scoring makes her an MQL."""
    ingest, scoring = services["ingest"], services["scoring"]
    await wait_for(lambda: ingest.knows(ws["write_key"]), within=30, what="the workspace")
    batch = keen_buyer_batch("b-1", "u-1", "grace@navy.example")
    batch["batch"][2]["traits"]["first_name"] = "Grace"
    async with httpx.AsyncClient(base_url=ingest.url, auth=(ws["write_key"], "")) as track:
        assert (await track.post("/v1/batch", json=batch)).status_code == 200
    auth = {"Authorization": f"Bearer {ws['api_key']}"}
    found: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=scoring.url, headers=auth) as api:

        async def is_mql() -> bool:
            page = (await api.get("/v1/leads", params={"email": "grace@navy.example"})).json()
            found.update(page["items"][0] if page.get("items") else {})
            return found.get("stage") == "mql"

        await wait_for(is_mql, within=60, what="Grace to become an MQL")
    return str(found["id"])


UTM = [  # (source, medium, campaign) of simulated first visits; every fourth came direct
    ("google", "cpc", "spring-search"),
    ("newsletter", "email", "october-digest"),
    ("linkedin", "social", "launch"),
    None,
]


def demo_history(people: int, end: datetime) -> simulate.Simulation:
    """`make demo`'s simulated visitors (30 days of history, ending before `end`), whose first
    visits carry UTM campaigns as a tracker would send them (context.campaign)."""
    sim = simulate.simulate(people, days=30, seed=11, end=end)
    seen: set[str] = set()
    for message in sim.messages:
        browser = message.get("anonymousId")
        if message["type"] != "page" or browser is None or browser in seen:
            continue
        seen.add(browser)
        utm = UTM[len(seen) % len(UTM)]
        if utm is not None:
            source, medium, name = utm
            message["context"] = {"campaign": {"source": source, "medium": medium, "name": name}}
    return sim


async def _same_as_reporting(
    page: Page,
    link: str,
    bi: httpx.AsyncClient,
    path: str,
    params: dict[str, str],
    *,
    rows: bool = True,
) -> bytes:
    """Download a report's CSV from the console; it must be reporting's CSV for the same
    parameters (asked just before or just after: the forecast and cohort ages move with now)."""
    before = (await bi.get(path, params={**params, "format": "csv"})).content
    async with page.expect_download() as caught:
        await page.get_by_role("link", name=link).click()
    download = await caught.value
    got = await asyncio.to_thread(Path(await download.path()).read_bytes)
    after = (await bi.get(path, params={**params, "format": "csv"})).content
    assert got in (before, after), (link, got[:300], before[:300])
    assert got.count(b"\n") > (1 if rows else 0), got  # a header (and rows)
    return got


async def test_a_marketer_works_through_the_console(
    services: dict[str, IngestServer], browser: Browser, artifacts: Path
) -> None:
    shots = artifacts / "console"
    shots.mkdir(parents=True, exist_ok=True)
    console_url = services["console"].url
    ws = services["ingest"].create_workspace()
    auth = {"Authorization": f"Bearer {ws['api_key']}"}
    lead_id = await _an_mql(services, ws)
    # Demo-like history for the reports (it ends three days ago: the funnel checked below
    # for the last two days is Grace's alone).
    history_end = datetime.now(UTC) - timedelta(days=3)
    history = demo_history(40, history_end)
    await asyncio.to_thread(
        traffic.send_to_ingest, services["ingest"].url, ws["write_key"], history.messages
    )

    laptop = Console(
        await browser.new_context(viewport=LAPTOP, accept_downloads=True),
        console_url,
        shots,
        "laptop",
    )
    page = await laptop.page()

    # Sign in: a stranger is sent to the sign-in page; a wrong key is refused, the right one in.
    await page.goto(console_url + "/leads?stage=mql")
    assert page.url.startswith(console_url + "/login?next=")
    await laptop.shot(page, "01-sign-in")
    await page.get_by_label("API key").fill("sk_not-a-key")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("That key was not accepted")
    await page.get_by_label("API key").fill(ws["api_key"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/leads\?stage=mql$"))
    cookie = next(c for c in await laptop.context.cookies() if c["name"] == "leadflow_console")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"

    # Keyboard: the first Tab lands on the skip link, which moves focus to the content.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    # Find the MQL by email, open her, accept her as an SQL.
    await page.get_by_label("Email").fill("grace@navy.example")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("link", name="grace@navy.example")).to_be_visible()
    await laptop.shot(page, "02-leads")
    await page.get_by_role("link", name="grace@navy.example").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("grace@navy.example")
    await expect(page.locator(".factors li").first).to_be_visible()
    await expect(page.get_by_role("heading", name="Stage history")).to_be_visible()
    await expect(page.locator(".timeline")).to_contain_text("Viewed /pricing")
    await laptop.shot(page, "03-lead-mql")
    await page.get_by_role("button", name="Accept as SQL").click()
    await expect(page.get_by_role("status")).to_have_text("Lead accepted.")
    await expect(page.locator(".stage").first).to_have_text("sql")
    await laptop.shot(page, "04-lead-accepted")
    async with httpx.AsyncClient(base_url=services["scoring"].url, headers=auth) as scoring:
        lead = (await scoring.get(f"/v1/leads/{lead_id}")).json()
    assert lead["stage"] == "sql"
    assert lead["stage_history"][-1]["actor"] == "sales"

    # A forged form (no CSRF token) is refused, though the browser has the session cookie.
    forged = await page.request.post(
        f"{console_url}/leads/{lead_id}/lifecycle", form={"stage": "disqualified", "reason": "x"}
    )
    assert forged.status == 403

    # A template, previewed live for Grace while it is written.
    await page.goto(console_url + "/templates/new")
    await page.get_by_label("Name").fill(WELCOME["name"])
    await page.get_by_label("Subject").fill(WELCOME["subject"])
    await page.get_by_label("HTML body").fill(WELCOME["html"])
    await page.get_by_label("Plain-text body").fill(WELCOME["text"])
    await page.get_by_label("Preview for").select_option(label="grace@navy.example")
    preview = page.frame_locator("#preview-frame")
    await expect(preview.locator("body")).to_contain_text("Subject: Welcome, Grace")
    await expect(preview.locator("body")).to_contain_text("Hi Grace,")
    await laptop.shot(page, "05-template-preview")
    await page.get_by_role("button", name="Create template").click()
    await expect(page.get_by_role("status")).to_have_text("Template created.")

    # A sequence: an email, then a wait typed wrong; nurture's message shows at that field.
    await page.goto(console_url + "/sequences/new")
    await page.get_by_label("Name", exact=True).fill("MQL welcome")
    await page.locator("#s0-t").select_option(label="welcome")
    await page.get_by_role("button", name="Wait", exact=True).click()
    await expect(page.locator("#s1-id")).to_be_focused()  # the new step's first field
    await page.locator("#s1-dur").fill("soon")
    await page.get_by_role("button", name="Email", exact=True).click()
    await page.locator("#s2-t").select_option(label="welcome")
    await page.get_by_role("button", name="Create sequence").click()
    duration = page.locator("#s1-dur")
    await expect(duration).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#err-steps-1-duration")).to_be_visible()
    assert await page.locator(".error").count() == 1
    await laptop.shot(page, "06-sequence-errors")
    await duration.fill("P2D")
    await page.get_by_role("button", name="Create sequence").click()
    await expect(page.get_by_role("status")).to_contain_text("Sequence created")
    await laptop.shot(page, "07-sequence-draft")
    await page.get_by_role("button", name="Activate").click()
    await expect(page.get_by_role("status")).to_have_text("Sequence activated.")
    await expect(page.locator(".heading-row .status")).to_have_text("active")
    sequence_id = page.url.rsplit("/", 1)[1]
    await page.get_by_role("button", name="Pause").click()
    await expect(page.get_by_role("status")).to_have_text("Sequence paused.")
    await page.get_by_role("button", name="Resume").click()
    await expect(page.get_by_role("status")).to_have_text("Sequence resumed.")
    async with httpx.AsyncClient(base_url=services["nurture"].url, headers=auth) as nurture:
        saved = (await nurture.get(f"/v1/sequences/{sequence_id}")).json()
    assert saved["status"] == "active"
    assert [(s["kind"], s["id"]) for s in saved["definition"]["steps"]] == [
        ("email", "welcome"),
        ("wait", "wait-1"),
        ("email", "email-1"),
    ]
    assert saved["definition"]["trigger"] == {"kind": "stage_entered", "stage": "mql"}
    await page.goto(console_url + "/sequences")
    await expect(page.get_by_role("link", name="MQL welcome")).to_be_visible()
    await laptop.shot(page, "08-sequences")

    # The funnel shows Grace's way to SQL; its CSV is what reporting serves.
    today = datetime.now(UTC).date()
    days = {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()}
    async with httpx.AsyncClient(base_url=services["reporting"].url, headers=auth) as bi:

        async def reached_sql() -> bool:
            rows = (await bi.get("/v1/funnel", params=days)).json()["stages"]
            return {r["stage"]: r["reached"] for r in rows}.get("sql") == 1

        await wait_for(reached_sql, within=30, what="the SQL in reporting's funnel")
        expected_csv = (await bi.get("/v1/funnel", params={**days, "format": "csv"})).content
    await page.goto(console_url + "/funnel")
    await page.get_by_label("From", exact=True).fill(days["start"])
    await page.get_by_label("To", exact=True).fill(days["end"])
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("svg.chart")).to_have_count(8)  # one per report
    await expect(page.locator("#funnel svg desc")).to_contain_text("sql: 1")
    await laptop.shot(page, "09-funnel")
    async with page.expect_download() as caught:
        await page.get_by_role("link", name="Download CSV of the funnel").click()
    download = await caught.value
    assert download.suggested_filename == f"leadflow-funnel-{days['start']}-to-{days['end']}.csv"
    saved_csv = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert saved_csv == expected_csv

    # The other reports over the demo-like history: cohorts, forecast, a breakdown by source.
    whole = {
        "start": (history_end - timedelta(days=31)).date().isoformat(),
        "end": today.isoformat(),
        "tz": "UTC",
    }
    customers = sum(p.converted for p in history.people)
    async with httpx.AsyncClient(base_url=services["reporting"].url, headers=auth) as bi:

        async def history_counted() -> bool:
            rows = (await bi.get("/v1/funnel", params=whole)).json()["stages"]
            reached = {r["stage"]: r["reached"] for r in rows}
            return reached["subscriber"] == len(history.people) + 1 and (
                reached["customer"] == customers
            )

        await wait_for(history_counted, within=90, what="the simulated history in reporting")
        await page.goto(console_url + "/funnel?" + urlencode(whole))
        await expect(page.locator("svg.chart")).to_have_count(8)
        cohorts = (await bi.get("/v1/cohorts", params={**whole, "cohort": "week"})).json()
        await page.get_by_label("Funnel breakdown").select_option("source")
        await page.get_by_label("Cohorts by").select_option("week")
        await page.get_by_label("Cohort stage").select_option("lead")
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("#funnel h3").first).to_be_visible()
        by_source = (await bi.get("/v1/funnel", params={**whole, "breakdown": "source"})).json()
        groups = [g["group"] for g in by_source["groups"]]
        assert {"google", "newsletter", "linkedin"} <= set(groups)
        await expect(page.locator("#funnel h3")).to_have_text(groups)
        await expect(page.locator("#funnel svg.chart")).to_have_count(len(groups))
        google = next(g for g in by_source["groups"] if g["group"] == "google")
        subscribers = google["stages"][0]["reached"]
        await expect(page.locator("#funnel section.group").first.locator("desc")).to_contain_text(
            f"subscriber: {by_source['groups'][0]['stages'][0]['reached']}"
        )
        assert subscribers > 0
        cells = page.locator("#cohorts rect.cell")
        await expect(cells).to_have_count(len(cohorts["rows"]) + 5)  # and the legend's five
        first = cohorts["rows"][0]
        await expect(page.locator("#cohorts svg title").nth(1)).to_have_text(
            f"{first['cohort']}, age 0: {first['share_lead'] * 100:.0f}% reached lead"
            f" ({first['reached_lead']} of {first['leads']})"
        )
        await expect(page.locator("#forecast")).to_contain_text("Next period,")
        await page.locator("#forecast summary", has_text="How this is worked out").click()
        await expect(page.locator("#forecast")).to_contain_text("lead -> mql")
        await laptop.shot(page, "11-reports")
        await _same_as_reporting(
            page, "Download CSV of the funnel", bi, "/v1/funnel", {**whole, "breakdown": "source"}
        )
        await _same_as_reporting(
            page, "Download CSV of the cohorts", bi, "/v1/cohorts", {**whole, "cohort": "week"}
        )
        await _same_as_reporting(page, "Download CSV of the forecast", bi, "/v1/forecast", whole)
        await _same_as_reporting(
            page, "Download CSV of the attribution", bi, "/v1/attribution", whole
        )
        await _same_as_reporting(
            page,
            "Download CSV of the revenue and costs",
            bi,
            "/v1/revenue",
            {**whole, "cohort": "week"},
        )
        await _same_as_reporting(page, "Download CSV of the volume", bi, "/v1/volume", whole)
        await _same_as_reporting(
            page, "Download CSV of the nurture", bi, "/v1/nurture", whole, rows=False
        )

    # Settings: a new MQL threshold is saved in scoring; an address is suppressed.
    await page.goto(console_url + "/settings")
    await page.get_by_label("MQL at score").fill("55")
    await page.get_by_role("button", name="Save scoring settings").click()
    await expect(page.get_by_role("status")).to_have_text("Scoring settings saved.")
    await page.get_by_label("Email", exact=True).fill("nobody@acme.example")
    await page.get_by_role("button", name="Suppress").click()
    await expect(page.locator("#suppressions")).to_contain_text("nobody@acme.example")
    await page.get_by_role("button", name="Remove nobody@acme.example").click()
    await expect(page.get_by_role("status")).to_contain_text("removed from the suppression")
    await expect(page.locator("#suppressions")).to_contain_text("Nobody is suppressed.")
    await page.get_by_label("Email", exact=True).fill("nobody@acme.example")
    await page.get_by_role("button", name="Suppress").click()
    await page.get_by_role("textbox", name="Allowed origins").fill("https://www.acme.example")
    await page.get_by_role("button", name="Save allowed origins").click()
    await expect(page.get_by_role("status")).to_have_text("Allowed origins saved.")
    await laptop.shot(page, "10-settings")
    async with httpx.AsyncClient(headers=auth) as api:
        config = (await api.get(services["scoring"].url + "/v1/scoring/config")).json()
        workspace = (await api.get(services["ingest"].url + "/v1/workspace")).json()
    assert config["thresholds"]["mql_score"] == 55
    assert workspace["allowed_origins"] == ["https://www.acme.example"]

    # Phone width: the same pages, same session.
    phone = Console(
        await browser.new_context(
            viewport=PHONE, storage_state=await laptop.context.storage_state()
        ),
        console_url,
        shots,
        "phone",
    )
    small = await phone.page()
    for path, name in [
        ("/leads?stage=sql", "02-leads"),
        (f"/leads/{lead_id}", "04-lead-accepted"),
        ("/templates", "05-templates"),
        ("/templates/new", "05-template-preview"),
        ("/sequences/new", "06-sequence-new"),
        (f"/sequences/{sequence_id}", "07-sequence"),
        ("/sequences", "08-sequences"),
        (f"/funnel?start={days['start']}&end={days['end']}", "09-funnel"),
        ("/funnel?" + urlencode({**whole, "breakdown": "source", "cohort": "week"}), "11-reports"),
        ("/settings", "10-settings"),
    ]:
        await small.goto(console_url + path)
        await expect(small.get_by_role("heading", level=1)).to_be_visible()
        await phone.shot(small, name)
        # Nothing makes the whole page scroll sideways (wide tables scroll in their box).
        width = await small.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a phone"

    stranger = Console(await browser.new_context(viewport=PHONE), console_url, shots, "phone")
    signin = await stranger.page()
    await signin.goto(console_url + "/leads")
    await expect(signin.get_by_label("API key")).to_be_visible()
    await stranger.shot(signin, "01-sign-in")

    # Signing out ends the session: pages ask for the key again.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto(console_url + "/leads")
    assert "/login?next=" in page.url
    for context in (stranger, phone, laptop):
        await context.context.close()
        assert context.errors == [], context.width
