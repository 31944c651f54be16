"""/readyz says "ok" or "unavailable" per check to anyone, and logs why (issue 22, item 10c):
it used to answer the exception's text (hosts, ports, driver errors) without a key."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi.testclient import TestClient

from services.console.main import create_app as create_console
from services.console.settings import ConsoleSettings
from services.reporting.main import create_app as create_reporting
from services.reporting.settings import ReportingSettings
from shared.readiness import public_readiness
from shared.web import get_runtime

REASON = "unavailable: ConnectionRefusedError(111, 'Connect call failed (10.20.30.40, 5432)')"


def test_the_answer_names_no_reason_and_the_log_keeps_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "leadflow.readiness"):
        body, status = public_readiness(
            {"database": REASON, "kafka": "ok", "workspaces": "loading"}
        )
    assert status == 503
    assert body == {
        "status": "unavailable",
        "checks": {"database": "unavailable", "kafka": "ok", "workspaces": "unavailable"},
    }
    assert "10.20.30.40" in caplog.text
    assert "workspaces: loading" in caplog.text
    assert public_readiness({"database": "ok"}) == (
        {"status": "ok", "checks": {"database": "ok"}},
        200,
    )


class _Down:
    async def readiness(self) -> dict[str, str]:
        return {"database": REASON, "kafka": "ok"}


async def test_a_service_readyz_shows_no_exception_text() -> None:
    app = create_reporting(ReportingSettings(log_json=False))
    app.dependency_overrides[get_runtime] = _Down
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"] == {"database": "unavailable", "kafka": "ok"}
    assert "10.20.30.40" not in answer.text


def test_the_console_readyz_shows_no_exception_text() -> None:
    nowhere = "http://127.0.0.1:9"  # nothing listens: every service is unreachable
    settings = ConsoleSettings(
        ingest_url=nowhere,
        scoring_url=nowhere,
        nurture_url=nowhere,
        reporting_url=nowhere,
        log_json=False,
    )
    with TestClient(create_console(settings)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert set(answer.json()["checks"].values()) == {"unavailable"}
    assert "127.0.0.1" not in answer.text
    assert "Error" not in answer.text
