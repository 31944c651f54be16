"""The browser tracker in a real headless Chromium, on a page this test serves."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from shared.net import free_port
from tests.integration.ingest_server import IngestServer, ingest_server
from tests.integration.support import wait_for

PAGE = """<!doctype html>
<html><head><title>Acme pricing</title>
<script>window.leadflow=window.leadflow||[];["track","identify","page","consent"].forEach(function(m){
window.leadflow[m]=window.leadflow[m]||function(){window.leadflow.push([m].concat([].slice.call(arguments)))}});</script>
<script async src="@INGEST@/v1/tracker.js" data-write-key="@KEY@" @EXTRA@></script>
</head><body>
<h1>Pricing</h1>
<button id="cta" onclick="leadflow.track('Clicked CTA', {plan: 'pro'})">Talk to sales</button>
<form id="signup" onsubmit="event.preventDefault();
  leadflow.identify({email: this.email.value, name: this.name.value}); leadflow.flush();
  this.insertAdjacentHTML('afterend', '<p id=thanks>Thanks!</p>')">
  <input name="name" placeholder="Name"><input name="email" type="email" placeholder="Email">
  <button type="submit">Sign up</button>
</form></body></html>"""


def page_html(ingest: str, key: str, extra: str = "") -> str:
    return PAGE.replace("@INGEST@", ingest).replace("@KEY@", key).replace("@EXTRA@", extra)


@contextlib.contextmanager
def page_server(html: str) -> Iterator[str]:
    """Serve one HTML page at / on its own origin, as a customer's web site would."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[IngestServer]:
    async with ingest_server() as server:
        yield server


async def test_page_view_click_and_form_arrive_with_one_anonymous_id(
    browser: Browser, server: IngestServer, bootstrap: str, artifacts: Path
) -> None:
    ws = server.create_workspace()
    await wait_for(lambda: server.knows(ws["write_key"]), within=10, what="workspace known")
    html = page_html(server.url, ws["write_key"])
    with page_server(html) as site:
        # Allow exactly this page's origin, now that its port is known.
        server.leadflow("workspace", "update", ws["id"], "--allowed-origin", site)
        await wait_for(
            lambda: _origin_allowed(server, ws["write_key"], site), within=10, what="origin allowed"
        )
        context = await browser.new_context()
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(site + "/?utm_source=newsletter&utm_medium=email&utm_campaign=spring")
        await page.wait_for_function("window.leadflow && window.leadflow.version")
        await page.click("#cta")
        await page.fill("input[name=name]", "Ada Lovelace")
        await page.fill("input[name=email]", "ada@acme.example")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#thanks")
        anonymous_id = await page.evaluate("leadflow.anonymousId()")
        cookies = {c["name"]: c["value"] for c in await context.cookies()}
        stored = await page.evaluate("localStorage.getItem('lf_aid')")
        await page.screenshot(path=str(artifacts / "tracker-demo-page.png"))
        await context.close()

    assert errors == []
    assert cookies["lf_aid"] == anonymous_id == stored
    events = [
        e for e in await server.touchpoints(bootstrap, at_least=3) if e.workspace_id == ws["id"]
    ]
    by_type = {e.type: e for e in events}
    assert set(by_type) == {"page", "track", "identify"}
    assert {e.payload["anonymous_id"] for e in events} == {anonymous_id}
    assert {e.lead_key for e in events} == {anonymous_id}
    page_view = by_type["page"]
    assert page_view.payload["properties"]["path"] == "/"
    assert page_view.payload["properties"]["title"] == "Acme pricing"
    assert page_view.payload["context"]["campaign"] == {
        "source": "newsletter",
        "medium": "email",
        "name": "spring",
    }
    assert page_view.payload["context"]["timezone"]
    assert by_type["track"].payload["event"] == "Clicked CTA"
    assert by_type["track"].payload["properties"] == {"plan": "pro"}
    assert by_type["identify"].payload["traits"] == {
        "email": "ada@acme.example",
        "name": "Ada Lovelace",
    }


async def _origin_allowed(server: IngestServer, key: str, origin: str) -> bool:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post(
            "/v1/batch", json={"writeKey": key, "batch": []}, headers={"Origin": origin}
        )
        return response.status_code == 200


async def test_nothing_is_stored_or_sent_before_consent(
    browser: Browser, server: IngestServer, bootstrap: str
) -> None:
    ws = server.create_workspace()
    await wait_for(lambda: server.knows(ws["write_key"]), within=10, what="workspace known")
    html = page_html(server.url, ws["write_key"], 'data-require-consent="true"')
    with page_server(html) as site:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(site)
        await page.wait_for_function("window.leadflow && window.leadflow.version")
        await page.click("#cta")
        await page.wait_for_timeout(1000)  # longer than the tracker's 250 ms batching delay
        before = {c["name"] for c in await context.cookies()}
        stored_before = await page.evaluate("localStorage.getItem('lf_aid')")
        sent_before = [e for e in await _all(server, bootstrap) if e.workspace_id == ws["id"]]
        await page.evaluate("leadflow.consent(true)")
        await page.evaluate("leadflow.flush()")
        after = {c["name"] for c in await context.cookies()}
        await context.close()
    assert "lf_aid" not in before
    assert stored_before is None
    assert sent_before == []
    assert "lf_aid" in after
    events = [
        e for e in await server.touchpoints(bootstrap, at_least=2) if e.workspace_id == ws["id"]
    ]
    assert sorted(e.type for e in events) == ["page", "track"]  # held until consent, then sent


async def _all(server: IngestServer, bootstrap: str) -> list[object]:
    from tests.integration.support import read_events

    return list(await read_events(bootstrap, server.topics.touchpoints))
