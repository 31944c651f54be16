"""The nurture API (templates, sequences with versions, suppressions, settings) in-process on
the real PostgreSQL and Kafka, with workspaces and keys created by the real CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.nurture import api
from services.nurture.settings import NurtureSettings
from services.nurture.store import tables as models
from services.registry import SERVICES
from shared.bus import ensure_topics
from shared.db.migrations import upgrade
from shared.events import Topics
from shared.web import create_service_app
from tests.integration.support import ROOT, wait_for

SECRET = "integration-test-secret"


@dataclass
class Key:
    id: str
    api_key: str
    write_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def create_workspace(client: httpx.AsyncClient, env: dict[str, str]) -> Key:
    """A workspace made by `leadflow workspace create`, once the app knows its key (keys
    reach the app through the workspaces topic)."""

    def create() -> dict[str, Any]:
        name = f"nurture-{uuid.uuid4().hex[:6]}"
        out = subprocess.run(
            [sys.executable, "-m", "services.cli", "workspace", "create", name, "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return dict(json.loads(out.stdout))

    data = await asyncio.to_thread(create)
    key = Key(data["id"], data["api_key"], data["write_key"])

    async def known() -> bool:
        return (await client.get("/v1/templates", headers=key.auth)).status_code != 401

    await wait_for(known, within=30, what="the app to learn the new workspace's key")
    return key


@dataclass
class Nurture:
    client: httpx.AsyncClient
    env: dict[str, str]
    a: Key
    b: Key

    async def new_workspace(self) -> Key:
        return await create_workspace(self.client, self.env)


@pytest.fixture(scope="module")
async def nurture(database_url: str, bootstrap: str) -> AsyncIterator[Nurture]:
    await upgrade(SERVICES["ingest"].migrations, database_url=database_url, schema="ingest")
    await upgrade(SERVICES["nurture"].migrations, database_url=database_url, schema="nurture")
    topics = Topics(f"t{uuid.uuid4().hex[:10]}")
    await ensure_topics(bootstrap, topics, partitions=1, replication_factor=1)
    settings = NurtureSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=topics.prefix,
        topic_partitions=1,
        secret_key=SECRET,
        log_json=False,
    )
    app = create_service_app(
        settings,
        title="LeadFlow nurture (test)",
        inbox=models.inbox,
        outbox=models.outbox,
        routers=[api.router],
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LEADFLOW_TOPIC_PREFIX": topics.prefix,
        "LEADFLOW_SECRET_KEY": SECRET,
    }
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://nurture.test"
        ) as client,
    ):
        a, b = await asyncio.gather(create_workspace(client, env), create_workspace(client, env))
        yield Nurture(client, env, a, b)


@pytest.fixture
def client(nurture: Nurture) -> httpx.AsyncClient:
    return nurture.client


def template_body(**changes: str) -> dict[str, str]:
    body = {
        "name": f"Welcome {uuid.uuid4().hex[:4]}",
        "subject": "Hello {{ lead.first_name | default('there') }}",
        "html": "<p>Hi {{ lead.first_name | default('there') }},</p>\n<p>Score: {{ score }}</p>",
        "text": "",
    }
    return {**body, **changes}


async def new_template(client: httpx.AsyncClient, key: Key, **changes: str) -> str:
    response = await client.post("/v1/templates", json=template_body(**changes), headers=key.auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def definition(*template_ids: str, stage: str = "mql") -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for index, template_id in enumerate(template_ids):
        if index:
            steps.append({"kind": "wait", "id": f"wait-{index}", "duration": "P2D"})
        steps.append({"kind": "email", "id": f"email-{index}", "template_id": template_id})
    return {"trigger": {"kind": "stage_entered", "stage": stage}, "steps": steps}


async def new_sequence(client: httpx.AsyncClient, key: Key, *template_ids: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/sequences",
        json={
            "name": f"Onboarding {uuid.uuid4().hex[:4]}",
            "definition": definition(*template_ids),
        },
        headers=key.auth,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


# --------------------------------------------------------------------------- templates
async def test_templates_are_validated_by_line_and_can_be_replaced_and_archived(
    nurture: Nurture, client: httpx.AsyncClient
) -> None:
    key = nurture.a
    bad = template_body(html="<p>Hello</p>\n<p>\n{{ leed.first_name }}</p>", subject="Hi {{ ")
    response = await client.post("/v1/templates", json=bad, headers=key.auth)
    assert response.status_code == 422
    problems = response.json()["detail"]
    wanted = {"part": "html", "line": 3, "message": "unknown variable 'leed'"}
    assert any(wanted.items() <= p.items() for p in problems), problems
    assert all({"loc", "msg", "type"} <= p.keys() for p in problems)  # FastAPI's 422 shape
    assert any(p["part"] == "subject" and p["line"] == 1 for p in problems), problems

    # A JSON shape FastAPI refuses keeps FastAPI's own 422.
    response = await client.post("/v1/templates", json={"name": "x"}, headers=key.auth)
    assert response.status_code == 422
    assert any(e["loc"] == ["body", "subject"] for e in response.json()["detail"])

    template_id = await new_template(client, key)
    assert template_id.startswith("tpl_")
    got = (await client.get(f"/v1/templates/{template_id}", headers=key.auth)).json()
    assert got["subject"] == "Hello {{ lead.first_name | default('there') }}"
    assert got["archived"] is False
    listed = (await client.get("/v1/templates", headers=key.auth)).json()
    assert template_id in [t["id"] for t in listed]

    replaced = template_body(name="Renamed", subject="New {{ stage }}", html="", text="Plain")
    response = await client.put(f"/v1/templates/{template_id}", json=replaced, headers=key.auth)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Renamed"
    assert response.json()["html"] == ""
    response = await client.put(
        f"/v1/templates/{template_id}",
        json=template_body(text="line one\n{% if %}"),
        headers=key.auth,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["part"] == "text"
    assert response.json()["detail"][0]["line"] == 2

    assert (
        await client.delete(f"/v1/templates/{template_id}", headers=key.auth)
    ).status_code == 204
    listed = (await client.get("/v1/templates", headers=key.auth)).json()
    assert template_id not in [t["id"] for t in listed]
    archived = (
        await client.get("/v1/templates", params={"include_archived": True}, headers=key.auth)
    ).json()
    assert template_id in [t["id"] for t in archived]
    got = (await client.get(f"/v1/templates/{template_id}", headers=key.auth)).json()
    assert got["archived"] is True
    response = await client.put(f"/v1/templates/{template_id}", json=replaced, headers=key.auth)
    assert response.status_code == 409
    assert (await client.get("/v1/templates/tpl_nope", headers=key.auth)).status_code == 404


async def test_preview_renders_for_a_known_lead_or_given_facts(
    nurture: Nurture, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = nurture.a
    template_id = await new_template(client, key)
    url = f"/v1/templates/{template_id}/preview"

    response = await client.post(url, json={"lead": {}}, headers=key.auth)
    assert response.status_code == 200, response.text
    assert response.json()["subject"] == "Hello there"
    assert "<p>Hi there,</p>" in response.json()["html"]
    assert "Hi there," in response.json()["text"]  # derived from the HTML

    facts = {"traits": {"first_name": "<Ada>"}, "score": 87}
    response = await client.post(url, json={"lead": facts}, headers=key.auth)
    assert response.json()["subject"] == "Hello <Ada>"
    assert "Hi &lt;Ada&gt;," in response.json()["html"]
    assert "Score: 87" in response.json()["html"]

    lead_id = f"lead_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(
            insert(models.leads).values(
                workspace_id=key.id,
                lead_id=lead_id,
                email="grace@example.com",
                traits={"name": "Grace Hopper"},
                score=42,
                stage="mql",
            )
        )
    response = await client.post(url, json={"lead_id": lead_id}, headers=key.auth)
    assert response.status_code == 200, response.text
    assert response.json()["subject"] == "Hello Grace"
    assert "Score: 42" in response.json()["html"]

    response = await client.post(url, json={"lead_id": "lead_unknown"}, headers=key.auth)
    assert response.status_code == 404
    # The lead of one workspace is unknown to another.
    other_template = await new_template(client, nurture.b)
    response = await client.post(
        f"/v1/templates/{other_template}/preview", json={"lead_id": lead_id}, headers=nurture.b.auth
    )
    assert response.status_code == 404
    response = await client.post(url, json={"lead_id": lead_id, "lead": {}}, headers=key.auth)
    assert response.status_code == 422


async def test_an_unsaved_template_previews_like_a_send_and_its_problems_are_422(
    nurture: Nurture, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """POST /v1/templates/preview: the console's preview of a draft (the contract it codes
    against: the parts plus lead_id or lead; 200 with the three parts; 422 with problems)."""
    key = nurture.a
    draft = {
        "subject": "Hi {{ lead.first_name | default('there') }} from {{ workspace }}",
        "html": '<p>{{ score }}</p><a href="{{ unsubscribe_url }}">stop</a>'
        '<a href="{{ preferences_url }}">prefs</a>',
        "text": "",
    }
    response = await client.post(
        "/v1/templates/preview",
        json={**draft, "lead": {"traits": {"first_name": "Ada"}, "score": 61}},
        headers=key.auth,
    )
    assert response.status_code == 200, response.text
    out = response.json()
    assert set(out) == {"subject", "html", "text"}
    assert out["subject"].startswith("Hi Ada from nurture-")
    assert "<p>61</p>" in out["html"]
    assert 'href="#unsubscribe-preview"' in out["html"]
    assert 'href="#preferences-preview"' in out["html"]
    assert "61" in out["text"]  # derived from the HTML

    lead_id = f"lead_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(
            insert(models.leads).values(
                workspace_id=key.id, lead_id=lead_id, traits={"first_name": "Grace"}, score=9
            )
        )
    response = await client.post(
        "/v1/templates/preview", json={**draft, "lead_id": lead_id}, headers=key.auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["subject"].startswith("Hi Grace from ")
    response = await client.post(
        "/v1/templates/preview", json={**draft, "lead_id": "lead_unknown"}, headers=key.auth
    )
    assert response.status_code == 404
    response = await client.post(
        "/v1/templates/preview", json={**draft, "lead_id": lead_id, "lead": {}}, headers=key.auth
    )
    assert response.status_code == 422

    # validate()'s problems, by part and line.
    broken = {**draft, "html": "<p>ok</p>\n<p>{{ leed.name }}</p>"}
    response = await client.post("/v1/templates/preview", json=broken, headers=key.auth)
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]["problems"]
    assert problems == [{"part": "html", "line": 2, "message": "unknown variable 'leed'"}]
    # A template that parses but fails when rendered: the one RenderError.
    failing = {**draft, "html": "<p>ok</p>\n<p>{{ 1 / 0 }}</p>"}
    response = await client.post("/v1/templates/preview", json=failing, headers=key.auth)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]["problems"]
    assert problem["part"] == "html"
    assert problem["line"] == 2
    assert "division" in problem["message"]
    # The secret API key, as everywhere else.
    assert (await client.post("/v1/templates/preview", json=draft)).status_code == 401


# --------------------------------------------------------------------------- sequences
async def test_a_sequence_must_reference_templates_of_its_workspace(
    nurture: Nurture, client: httpx.AsyncClient
) -> None:
    key = nurture.a
    mine = await new_template(client, key)
    theirs = await new_template(client, nurture.b)
    body = {"name": "Broken", "definition": definition(mine, "tpl_missing", theirs)}
    response = await client.post("/v1/sequences", json=body, headers=key.auth)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [(e["loc"], e["input"]) for e in errors] == [
        (["body", "definition", "steps", 2, "email", "template_id"], "tpl_missing"),
        (["body", "definition", "steps", 4, "email", "template_id"], theirs),
    ]
    assert "tpl_missing" in errors[0]["msg"]

    # A definition that does not validate: pydantic's locations.
    broken = definition(mine)
    broken["steps"].insert(
        0,
        {
            "kind": "branch",
            "id": "fork",
            "condition": {"score": {"op": "gte", "value": 50}},
            "then": "nowhere",
            "else": "email-0",
        },
    )
    response = await client.post(
        "/v1/sequences", json={"name": "Fork", "definition": broken}, headers=key.auth
    )
    assert response.status_code == 422
    assert any(
        e["loc"][:4] == ["body", "definition", "steps", 0] and "nowhere" in e["msg"]
        for e in response.json()["detail"]
    ), response.json()

    # An A/B split's variants are checked too.
    split = definition(mine)
    split["steps"][0] = {
        "kind": "email",
        "id": "ab",
        "variants": [{"id": "a", "template_id": mine}, {"id": "b", "template_id": "tpl_gone"}],
    }
    response = await client.post(
        "/v1/sequences", json={"name": "AB", "definition": split}, headers=key.auth
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-3:] == ["variants", 1, "template_id"]

    # A template used by a live sequence cannot be archived.
    sequence = await new_sequence(client, key, mine)
    response = await client.delete(f"/v1/templates/{mine}", headers=key.auth)
    assert response.status_code == 409
    assert sequence["id"] in response.json()["detail"]


async def test_saving_a_definition_adds_a_version_and_keeps_the_old_ones(
    nurture: Nurture, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = nurture.a
    first, second = await new_template(client, key), await new_template(client, key)
    created = await new_sequence(client, key, first)
    sequence_id = created["id"]
    assert sequence_id.startswith("seq_")
    assert created["status"] == "draft"
    assert created["current_version"] == 1
    assert [v["version"] for v in created["versions"]] == [1]
    assert created["definition"]["steps"][0]["template_id"] == first
    assert created["counts"] == {"active": 0, "completed": 0, "exited": 0, "sent": 0}
    v1 = (await client.get(f"/v1/sequences/{sequence_id}/versions/1", headers=key.auth)).json()

    new_definition = definition(first, second)
    response = await client.put(
        f"/v1/sequences/{sequence_id}", json={"definition": new_definition}, headers=key.auth
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["current_version"] == 2
    assert [v["version"] for v in updated["versions"]] == [1, 2]
    assert [s["id"] for s in updated["definition"]["steps"]] == ["email-0", "wait-1", "email-1"]

    old = (await client.get(f"/v1/sequences/{sequence_id}/versions/1", headers=key.auth)).json()
    assert old == {**v1, "current": False}
    assert len(old["definition"]["steps"]) == 1
    new = (await client.get(f"/v1/sequences/{sequence_id}/versions/2", headers=key.auth)).json()
    assert new["current"] is True
    assert new["definition"]["steps"][1]["duration"] in ("P2D", "P2DT0S", "PT48H")
    assert (
        await client.get(f"/v1/sequences/{sequence_id}/versions/3", headers=key.auth)
    ).status_code == 404

    # The same definition again, or a new name: no new version.
    response = await client.put(
        f"/v1/sequences/{sequence_id}",
        json={"definition": new_definition, "name": "Renamed"},
        headers=key.auth,
    )
    assert response.json()["current_version"] == 2
    assert response.json()["name"] == "Renamed"
    # An unknown template in the new definition: refused, nothing saved.
    response = await client.put(
        f"/v1/sequences/{sequence_id}",
        json={"definition": definition(first, "tpl_nope")},
        headers=key.auth,
    )
    assert response.status_code == 422
    got = (await client.get(f"/v1/sequences/{sequence_id}", headers=key.auth)).json()
    assert got["current_version"] == 2

    # Headline counts come from enrollments and sends.
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for index, status in enumerate(["active", "active", "completed", "exited"]):
            await conn.execute(
                insert(models.enrollments).values(
                    id=f"enr_{uuid.uuid4().hex[:12]}",
                    workspace_id=key.id,
                    sequence_id=sequence_id,
                    version=1,
                    lead_id=f"lead-{index}",
                    status=status,
                    progress={},
                    entered_at=now,
                    trigger=f"manual:{index}",
                )
            )
        for index, status in enumerate(["sent", "sent", "sent", "bounced", "queued"]):
            await conn.execute(
                insert(models.sends).values(
                    id=f"snd_{uuid.uuid4().hex[:12]}",
                    send_key=f"{sequence_id}:{index}",
                    workspace_id=key.id,
                    enrollment_id="enr_x",
                    lead_id=f"lead-{index}",
                    sequence_id=sequence_id,
                    version=1,
                    step_id="email-0",
                    template_id=first,
                    message_id=f"<{uuid.uuid4().hex}@test>",
                    status=status,
                    not_before=now,
                    deadline=now + timedelta(days=1),
                )
            )
    counts = {"active": 2, "completed": 1, "exited": 1, "sent": 3}
    listed = (await client.get("/v1/sequences", headers=key.auth)).json()
    mine = next(s for s in listed if s["id"] == sequence_id)
    assert mine["counts"] == counts
    assert mine["current_version"] == 2
    assert (await client.get(f"/v1/sequences/{sequence_id}", headers=key.auth)).json()[
        "counts"
    ] == counts


async def test_status_transitions_and_why_others_are_refused(
    nurture: Nurture, client: httpx.AsyncClient
) -> None:
    key = nurture.a
    template_id = await new_template(client, key)
    sequence_id = (await new_sequence(client, key, template_id))["id"]

    async def do(action: str) -> httpx.Response:
        return await client.post(f"/v1/sequences/{sequence_id}/{action}", headers=key.auth)

    refused = await do("pause")
    assert refused.status_code == 409
    assert "draft" in refused.json()["detail"]
    assert (await do("resume")).status_code == 409
    assert (await do("activate")).json()["status"] == "active"
    again = await do("activate")
    assert again.status_code == 409
    assert "already active" in again.json()["detail"]
    assert (await do("pause")).json()["status"] == "paused"
    refused = await do("activate")
    assert refused.status_code == 409
    assert "resume" in refused.json()["detail"]
    assert (await do("resume")).json()["status"] == "active"

    paused_only = (
        await client.get("/v1/sequences", params={"status": "active"}, headers=key.auth)
    ).json()
    assert sequence_id in [s["id"] for s in paused_only]

    assert (await do("archive")).json()["status"] == "archived"
    assert (await do("archive")).status_code == 200  # already archived: nothing to do
    refused = await do("resume")
    assert refused.status_code == 409
    assert "archived" in refused.json()["detail"]
    response = await client.put(
        f"/v1/sequences/{sequence_id}", json={"name": "Too late"}, headers=key.auth
    )
    assert response.status_code == 409
    # Its template is no longer used by a live sequence: it can be archived now.
    assert (
        await client.delete(f"/v1/templates/{template_id}", headers=key.auth)
    ).status_code == 204
    assert (
        await client.post("/v1/sequences/seq_nope/activate", headers=key.auth)
    ).status_code == 404


# --------------------------------------------------------------------------- isolation
async def test_another_workspace_sees_nothing_and_keys_are_checked(
    nurture: Nurture, client: httpx.AsyncClient
) -> None:
    owner = nurture.a
    stranger = await nurture.new_workspace()
    template_id = await new_template(client, owner)
    sequence_id = (await new_sequence(client, owner, template_id))["id"]
    await client.post(
        "/v1/suppressions", json={"email": "owner-only@example.com"}, headers=owner.auth
    )
    await client.put("/v1/nurture/config", json={"timezone": "Asia/Tokyo"}, headers=owner.auth)

    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/v1/templates/{template_id}", None),
        ("PUT", f"/v1/templates/{template_id}", template_body()),
        ("DELETE", f"/v1/templates/{template_id}", None),
        ("POST", f"/v1/templates/{template_id}/preview", {"lead": {}}),
        ("GET", f"/v1/sequences/{sequence_id}", None),
        ("PUT", f"/v1/sequences/{sequence_id}", {"name": "Mine now"}),
        ("GET", f"/v1/sequences/{sequence_id}/versions/1", None),
        ("POST", f"/v1/sequences/{sequence_id}/activate", None),
        ("POST", f"/v1/sequences/{sequence_id}/archive", None),
        ("DELETE", "/v1/suppressions/owner-only@example.com", None),
    ]
    for method, url, body in attempts:
        response = await client.request(method, url, json=body, headers=stranger.auth)
        assert response.status_code == 404, (method, url, response.text)

    assert (await client.get("/v1/templates", headers=stranger.auth)).json() == []
    assert (await client.get("/v1/sequences", headers=stranger.auth)).json() == []
    suppressed = (await client.get("/v1/suppressions", headers=stranger.auth)).json()
    assert suppressed == {"items": [], "next_cursor": None}
    config = (await client.get("/v1/nurture/config", headers=stranger.auth)).json()
    assert config["timezone"] == "UTC"
    # The owner's things are untouched.
    got = (await client.get(f"/v1/sequences/{sequence_id}", headers=owner.auth)).json()
    assert got["status"] == "draft"
    assert got["name"] != "Mine now"

    write = {"Authorization": f"Bearer {owner.write_key}"}
    for url in ("/v1/templates", "/v1/sequences", "/v1/suppressions", "/v1/nurture/config"):
        assert (await client.get(url, headers=write)).status_code == 403
        assert (await client.get(url)).status_code == 401
        bad = {"Authorization": "Bearer sk_not_a_key"}
        assert (await client.get(url, headers=bad)).status_code == 401
    response = await client.post("/v1/templates", json=template_body(), headers=write)
    assert response.status_code == 403


# --------------------------------------------------------------------------- suppressions
async def test_suppressions_are_listed_newest_first_and_only_manual_ones_are_removed(
    nurture: Nurture, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = await nurture.new_workspace()
    response = await client.post(
        "/v1/suppressions",
        json={"email": "  Ann@Example.COM ", "detail": "asked by phone"},
        headers=key.auth,
    )
    assert response.status_code == 201, response.text
    assert response.json()["email"] == "ann@example.com"
    assert response.json()["reason"] == "manual"
    again = await client.post(
        "/v1/suppressions", json={"email": "ann@example.com"}, headers=key.auth
    )
    assert again.status_code == 200
    assert again.json()["detail"] == "asked by phone"

    for body in (
        {"email": "not-an-address"},
        {"email": "x@example.com", "reason": "bounced"},
        {"email": "x@example.com", "extra": 1},
    ):
        response = await client.post("/v1/suppressions", json=body, headers=key.auth)
        assert response.status_code == 422, body

    base = datetime.now(UTC) + timedelta(minutes=1)
    async with engine.begin() as conn:
        for minutes, email, reason in [
            (1, "bob@example.com", "unsubscribed"),
            (2, "cy@example.com", "bounced"),
            (3, "di@example.com", "complaint"),
        ]:
            await conn.execute(
                insert(models.suppressions).values(
                    workspace_id=key.id,
                    email=email,
                    reason=reason,
                    detail="",
                    created_at=base + timedelta(minutes=minutes),
                )
            )
    # An unsubscribe is not hidden by a later manual entry.
    response = await client.post(
        "/v1/suppressions", json={"email": "BOB@example.com"}, headers=key.auth
    )
    assert response.status_code == 200
    assert response.json()["reason"] == "unsubscribed"

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/suppressions", params=params, headers=key.auth)).json()
        pages += 1
        seen += [i["email"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 2
    assert seen == ["di@example.com", "cy@example.com", "bob@example.com", "ann@example.com"]
    bounced = (
        await client.get("/v1/suppressions", params={"reason": "bounced"}, headers=key.auth)
    ).json()
    assert [i["email"] for i in bounced["items"]] == ["cy@example.com"]
    response = await client.get("/v1/suppressions", params={"cursor": "!!"}, headers=key.auth)
    assert response.status_code == 400

    for email in ("bob@example.com", "cy@example.com"):
        response = await client.delete(f"/v1/suppressions/{email}", headers=key.auth)
        assert response.status_code == 409
        assert "manual" in response.json()["detail"]
    response = await client.delete("/v1/suppressions/ANN@example.com", headers=key.auth)
    assert response.status_code == 204
    response = await client.delete("/v1/suppressions/ann@example.com", headers=key.auth)
    assert response.status_code == 404
    left = (await client.get("/v1/suppressions", headers=key.auth)).json()["items"]
    assert [i["email"] for i in left] == ["di@example.com", "cy@example.com", "bob@example.com"]


# --------------------------------------------------------------------------- settings
async def test_settings_are_validated_and_saved_per_workspace(
    nurture: Nurture, client: httpx.AsyncClient
) -> None:
    key = await nurture.new_workspace()
    defaults = (await client.get("/v1/nurture/config", headers=key.auth)).json()
    assert defaults["timezone"] == "UTC"
    assert defaults["send_window"]["start"] == "09:00:00"

    wanted = {
        **defaults,
        "timezone": "America/New_York",
        "send_window": {"start": "08:30", "end": "18:00", "days": [1, 2, 3, 4, 5, 6]},
        "caps": [{"max": 2, "per": "P7D"}],
        "from_address": "hello@acme.example",
        "require_opt_in": True,
    }
    response = await client.put("/v1/nurture/config", json=wanted, headers=key.auth)
    assert response.status_code == 200, response.text
    saved = (await client.get("/v1/nurture/config", headers=key.auth)).json()
    assert saved == response.json()
    assert saved["timezone"] == "America/New_York"
    assert saved["send_window"]["start"] == "08:30:00"
    assert saved["require_opt_in"] is True
    assert len(saved["caps"]) == 1

    refused: list[tuple[dict[str, Any], str]] = [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"from_address": "nobody"}, "from_address"),
        ({"rate_per_minute": 0}, "rate_per_minute"),
        ({"send_window": {"start": "18:00", "end": "09:00"}}, "send_window"),
        ({"colour": "blue"}, "colour"),
    ]
    for change, field in refused:
        response = await client.put(
            "/v1/nurture/config", json={**saved, **change}, headers=key.auth
        )
        assert response.status_code == 422, (change, response.text)
        locs = [e["loc"] for e in response.json()["detail"]]
        assert any(loc[:2] == ["body", field] for loc in locs), (change, locs)
    after = (await client.get("/v1/nurture/config", headers=key.auth)).json()
    assert after == saved


# --------------------------------------------------------------------------- enrollments
async def test_leads_are_enrolled_and_removed_by_hand(
    nurture: Nurture, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key = nurture.a
    template_id = await new_template(client, key)
    sequence = await new_sequence(client, key, template_id)
    url = f"/v1/sequences/{sequence['id']}/enrollments"
    lead_id = f"lead_{uuid.uuid4().hex[:8]}"
    draft = await client.post(url, json={"lead_id": lead_id}, headers=key.auth)
    assert draft.status_code == 409
    assert "draft" in draft.json()["detail"]
    assert (
        await client.post(f"/v1/sequences/{sequence['id']}/activate", headers=key.auth)
    ).status_code == 200
    unknown = await client.post(url, json={"lead_id": lead_id}, headers=key.auth)
    assert unknown.status_code == 404
    async with engine.begin() as conn:
        await conn.execute(
            insert(models.leads).values(workspace_id=key.id, lead_id=lead_id, email="x@y.example")
        )
    enrolled = await client.post(url, json={"lead_id": lead_id}, headers=key.auth)
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["status"] == "active"
    twice = await client.post(url, json={"lead_id": lead_id}, headers=key.auth)
    assert twice.status_code == 409
    assert "already enrolled" in twice.json()["detail"]
    other = await client.delete(f"/v1/enrollments/{enrolled.json()['id']}", headers=nurture.b.auth)
    assert other.status_code == 404
    removed = await client.delete(f"/v1/enrollments/{enrolled.json()['id']}", headers=key.auth)
    assert (removed.json()["status"], removed.json()["exit_reason"]) == (
        "exited",
        "removed by hand",
    )
    listed = await client.get("/v1/enrollments", params={"lead_id": lead_id}, headers=key.auth)
    assert [e["status"] for e in listed.json()] == ["exited"]
