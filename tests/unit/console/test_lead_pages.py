"""Sales' decision on a lead, over a faked scoring API: what is sent, what is said."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.console.main import create_app
from services.console.settings import ConsoleSettings

SCORING = "http://scoring.test"


class FakeScoring:
    def __init__(self) -> None:
        self.moves: list[dict[str, Any]] = []
        self.refusal: tuple[int, str] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/workspace":
            return httpx.Response(200, json={"name": "Acme"})
        if request.url.path.endswith("/lifecycle"):
            if self.refusal:
                return httpx.Response(self.refusal[0], json={"detail": self.refusal[1]})
            self.moves.append(json.loads(request.content))
            return httpx.Response(200, json={})
        return httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def fake() -> FakeScoring:
    return FakeScoring()


@pytest.fixture
def client(fake: FakeScoring) -> Iterator[TestClient]:
    settings = ConsoleSettings(
        ingest_url=SCORING,
        scoring_url=SCORING,
        nurture_url=SCORING,
        reporting_url=SCORING,
        log_json=False,
    )
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as c:
        app.state.http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
        c.post("/login", data={"api_key": "sk_t", "csrf_token": _token(c)})
        yield c


def _token(c: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login?next=/x").text)
    if found is None:  # signed in: /login redirects; an error page carries the token too
        found = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/leads/ld_1").text)
    assert found
    return found.group(1)


def _move(c: TestClient, **form: str) -> list[list[str]]:
    """Posts the decision; the messages the lead's page would show next."""
    answer = c.post("/leads/ld_1/lifecycle", data={**form, "csrf_token": _token(c)})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/leads/ld_1"
    page = c.get("/leads/ld_1")  # the next page shows (and spends) the messages
    found = re.findall(r'class="flash flash-(\w+)"[^>]*>([^<]*)<', page.text)
    return [list(m) for m in found]


def test_accepting_sends_scoring_the_decision(client: TestClient, fake: FakeScoring) -> None:
    assert _move(client, stage="sql") == [["ok", "Lead accepted."]]
    assert fake.moves == [{"stage": "sql", "reason": "accepted by sales"}]


def test_saying_no_without_a_reason_calls_nobody(client: TestClient, fake: FakeScoring) -> None:
    said = _move(client, stage="disqualified", reason=" ")
    assert said == [["error", "Give a reason to recycle or disqualify a lead."]]
    assert fake.moves == []


def test_a_refusal_by_scoring_is_said_not_raised(client: TestClient, fake: FakeScoring) -> None:
    fake.refusal = (409, "already an SQL")
    assert _move(client, stage="sql") == [["error", "Not done: already an SQL"]]
    assert fake.moves == []
