"""HSTS on answers to requests that came over https, in every service (issue 22, item 10d)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.console.main import create_app as create_console
from services.console.settings import ConsoleSettings
from services.ingest.main import create_app as create_ingest
from services.ingest.settings import IngestSettings
from services.reporting.main import create_app as create_reporting
from services.reporting.settings import ReportingSettings
from shared.http_security import HSTS_VALUE, Hsts
from shared.settings import BaseServiceSettings

HSTS = "strict-transport-security"


def _bare() -> FastAPI:
    app = FastAPI()

    @app.get("/x")
    async def x() -> dict[str, str]:
        return {}

    return app


async def _get(app: object, url: str, **transport: object) -> httpx.Response:
    """One request; the app's lifespan is not run (these routes need none of it)."""
    asgi = httpx.ASGITransport(app=app, **transport)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=asgi) as client:
        return await client.get(url, headers={"x-forwarded-proto": "https"})


async def test_https_answers_carry_hsts_and_http_ones_do_not() -> None:
    app = Hsts(_bare())
    assert (await _get(app, "https://svc/x")).headers[HSTS] == HSTS_VALUE
    assert HSTS not in (await _get(app, "http://svc/x")).headers


@pytest.mark.parametrize(
    ("client", "hsts"), [("127.0.0.1", True), ("10.1.2.3", False), ("203.0.113.9", True)]
)
async def test_x_forwarded_proto_counts_only_from_a_trusted_proxy(client: str, hsts: bool) -> None:
    """As `leadflow serve` runs it: uvicorn's proxy middleware, trusting
    LEADFLOW_TRUSTED_PROXIES (here the default plus one proxy), in front of the app."""
    trusted = f"{BaseServiceSettings().trusted_proxies},203.0.113.9"
    app = ProxyHeadersMiddleware(Hsts(_bare()), trusted_hosts=trusted)  # type: ignore[arg-type]
    answer = await _get(app, "http://svc/x", client=(client, 40000))
    assert (HSTS in answer.headers) is hsts


async def test_every_kind_of_service_app_sends_hsts_over_https() -> None:
    quiet = {"log_json": False}
    reporting = create_reporting(ReportingSettings(**quiet))
    ingest = create_ingest(IngestSettings(**quiet))
    console = create_console(ConsoleSettings(**quiet))
    for app in (reporting, ingest, console):
        assert (await _get(app, "https://svc/healthz")).headers[HSTS] == HSTS_VALUE
        assert HSTS not in (await _get(app, "http://svc/healthz")).headers
    # Ingest's tracking posts skip the framework (FastPath); they carry it too. (No state
    # without the lifespan: the fast path answers 500, with its headers.)
    transport = httpx.ASGITransport(app=ingest)
    async with httpx.AsyncClient(transport=transport) as client:
        track = await client.post("https://svc/v1/track", json={"userId": "u", "event": "e"})
        plain = await client.post("http://svc/v1/track", json={"userId": "u", "event": "e"})
    assert track.headers[HSTS] == HSTS_VALUE
    assert HSTS not in plain.headers
