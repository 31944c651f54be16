"""The template editor's live preview over faked scoring and nurture APIs (httpx
MockTransport): the draft goes to nurture's POST /v1/templates/preview with the chosen lead's
facts as scoring knows them, and the page shows nurture's rendering, or the template's
problems, in a sandboxed page of its own. No other service's code is run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.console.domain.templates import PREVIEW_CSP
from services.console.main import create_app
from services.console.settings import ConsoleSettings

SCORING = "http://scoring.test"
NURTURE = "http://nurture.test"
GRACE = {
    "id": "ld_grace",
    "identities": [{"kind": "anonymous", "value": "b-1"}, {"kind": "email", "value": "g@x.io"}],
    "traits": {"first_name": "Grace", "email": "g@x.io"},
    "score": 72,
    "fit": 0.8,
    "engagement": 0.6,
    "stage": "mql",
}
PROBLEMS = [{"part": "html", "line": 3, "message": "unexpected '}'"}]


class FakeServices:
    """Scoring knows Grace; nurture renders a draft (or answers `refusal` with a 422)."""

    def __init__(self) -> None:
        self.previews: list[dict[str, Any]] = []
        self.refusal: Any = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/workspace":
            return httpx.Response(200, json={"name": "Acme"})
        if path == "/v1/leads":
            return httpx.Response(200, json={"items": [GRACE], "next_cursor": None})
        if path == "/v1/leads/ld_grace":
            return httpx.Response(200, json=GRACE)
        if path == "/v1/templates/preview" and request.method == "POST":
            body = json.loads(request.content)
            self.previews.append(body)
            if self.refusal is not None:
                return httpx.Response(422, json={"detail": self.refusal})
            first = (body.get("lead") or {}).get("traits", {}).get("first_name", "there")
            return httpx.Response(
                200,
                json={
                    "subject": body["subject"].replace("{{ name }}", first),
                    "html": body["html"].replace("{{ name }}", first),
                    "text": body["text"].replace("{{ name }}", first),
                },
            )
        return httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def fake() -> FakeServices:
    return FakeServices()


@pytest.fixture
def client(fake: FakeServices) -> Iterator[TestClient]:
    settings = ConsoleSettings(
        ingest_url=SCORING,
        scoring_url=SCORING,
        nurture_url=NURTURE,
        reporting_url=SCORING,
        log_json=False,
    )
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as c:
        app.state.http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
        token = _token(c)
        assert c.post("/login", data={"api_key": "sk_t", "csrf_token": token}).status_code == 303
        yield c


def _token(c: TestClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).text)
    assert found
    return found.group(1)


def _preview(c: TestClient, **fields: str) -> httpx.Response:
    """The editor's form posted to the preview, as the browser does while one types."""
    form = {"subject": "Hi {{ name }}", "html": "<p>Hi {{ name }},</p>", "text": "Hi"} | fields
    return c.post("/templates/preview", data={**form, "csrf_token": _token(c, "/templates/new")})


def test_the_draft_is_rendered_by_nurture_for_the_leads_facts(
    client: TestClient, fake: FakeServices
) -> None:
    editor = client.get("/templates/new")
    assert '<option value="ld_grace">g@x.io</option>' in editor.text
    answer = _preview(client, preview_lead="ld_grace")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == PREVIEW_CSP
    assert answer.text.startswith('<!doctype html><html lang="en"><meta charset="utf-8">')
    assert "<strong>Subject:</strong> Hi Grace</div><p>Hi Grace,</p>" in answer.text
    assert fake.previews == [
        {
            "subject": "Hi {{ name }}",
            "html": "<p>Hi {{ name }},</p>",
            "text": "Hi",
            "lead_id": None,
            "lead": {
                "lead_id": "ld_grace",
                "email": "g@x.io",
                "traits": {"first_name": "Grace", "email": "g@x.io"},
                "score": 72,
                "fit": 0.8,
                "engagement": 0.6,
                "stage": "mql",
            },
        }
    ]


def test_without_a_lead_the_draft_is_rendered_for_nobody_and_text_only_shows_as_text(
    client: TestClient, fake: FakeServices
) -> None:
    answer = _preview(client, html="", text="Hi <you> {{ name }}")
    assert fake.previews[0]["lead"] is None
    assert fake.previews[0]["lead_id"] is None
    assert "<pre>Hi &lt;you&gt; there</pre>" in answer.text


@pytest.mark.parametrize(
    "refusal",
    [{"problems": PROBLEMS}, [{"loc": ["body", "html"], "msg": "x", "type": "t", **PROBLEMS[0]}]],
)
def test_the_templates_problems_are_shown_instead(
    client: TestClient, fake: FakeServices, refusal: Any
) -> None:
    fake.refusal = refusal
    answer = _preview(client, html="<p>{{ oops }</p>")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == PREVIEW_CSP
    assert (
        "<p><strong>The template has problems:</strong></p>"
        "<ul><li>html line 3: unexpected &#39;}&#39;</li></ul>"
    ) in answer.text


def test_a_request_nurture_refuses_is_named_by_its_field(
    client: TestClient, fake: FakeServices
) -> None:
    fake.refusal = [
        {"loc": ["body", "subject"], "msg": "String should have at most 300 characters"}
    ]
    answer = _preview(client)
    assert "<li>subject: String should have at most 300 characters</li>" in answer.text


def test_the_preview_needs_the_csrf_token(client: TestClient, fake: FakeServices) -> None:
    answer = client.post("/templates/preview", data={"subject": "x", "html": "", "text": ""})
    assert answer.status_code == 403
    assert fake.previews == []
