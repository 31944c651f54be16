"""The console's own rules, without the other services: sign-in required, CSRF on every form
POST, the session cookie's flags, security headers."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from services.console.api.deps import checked_form, csrf_ok, parse_form
from services.console.domain.navigation import safe_next
from services.console.main import PAGES, create_app
from services.console.settings import ConsoleSettings

# Nothing listens here: pages that would call a service are not reached in these tests.
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = ConsoleSettings(
        ingest_url=NOWHERE,
        scoring_url=NOWHERE,
        nurture_url=NOWHERE,
        reporting_url=NOWHERE,
        log_json=False,
    )
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


def _token(client: TestClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_every_post_route_checks_the_csrf_token() -> None:
    routes = [r for page in PAGES for r in page.router.routes]
    posts = [r for r in routes if isinstance(r, APIRoute) and "POST" in r.methods]
    assert len(posts) >= 10
    for route in posts:
        # First: a forged POST is refused before anything else (even the sign-in check) runs.
        assert route.dependant.dependencies[0].call is checked_form, route.path


@pytest.mark.parametrize("path", ["/leads", "/sequences", "/funnel", "/settings", "/templates"])
def test_pages_send_a_stranger_to_sign_in_and_back(client: TestClient, path: str) -> None:
    answer = client.get(path + "?a=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=" + path.replace("/", "%2F") + "%3Fa%3D1"


def test_a_post_without_the_token_is_refused(client: TestClient) -> None:
    _token(client)
    for path in ("/login", "/logout", "/leads/ld_1/lifecycle", "/settings/keys/api"):
        answer = client.post(path, data={"api_key": "sk_x", "stage": "sql"})
        assert answer.status_code == 403, path
        assert "CSRF" in answer.text


def test_a_post_with_a_wrong_token_is_refused(client: TestClient) -> None:
    _token(client)
    answer = client.post("/login", data={"api_key": "sk_x", "csrf_token": "guess"})
    assert answer.status_code == 403


def test_sign_in_with_the_token_asks_ingest_and_says_when_it_is_down(client: TestClient) -> None:
    token = _token(client)
    answer = client.post("/login", data={"api_key": "sk_x", "csrf_token": token})
    assert answer.status_code == 200  # the form again, with the reason
    assert "does not answer at http://127.0.0.1:9" in answer.text
    empty = client.post("/login", data={"api_key": " ", "csrf_token": token})
    assert "Enter your workspace" in empty.text


def test_the_session_cookie_is_http_only_and_same_site(client: TestClient) -> None:
    answer = client.get("/login")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # development over http; production sets it
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"


def test_production_cookies_are_secure() -> None:
    settings = ConsoleSettings(environment="production", secret_key="s" * 32, log_json=False)
    with TestClient(create_app(settings)) as c:
        assert "secure" in c.get("/login").headers["set-cookie"].lower()


def test_static_files_are_served_by_the_console(client: TestClient) -> None:
    assert client.get("/static/console.css").status_code == 200
    assert client.get("/static/console.js").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok", "service": "console"}


def test_helpers() -> None:
    assert csrf_ok("abc", "abc")
    assert not csrf_ok("abc", "abd")
    assert not csrf_ok(None, None)
    assert not csrf_ok("", "")
    assert [safe_next(t) for t in ("/leads/x?a=1", "//evil.example", "https://evil", None)] == [
        "/leads/x?a=1",
        "/leads",
        "/leads",
        "/leads",
    ]
    form = parse_form(b"a=1&b=&b=x+y&c=%26")
    assert form.getlist("b") == ["", "x y"]
    assert form["c"] == "&"
