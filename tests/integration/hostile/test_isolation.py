"""Nobody sees or changes another workspace: every route of every service (read from each
app's route table, so a new endpoint is covered the day it is added) is called with
workspace A's API key on workspace B's real ids, with B's write key, and with no key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from itsdangerous import URLSafeSerializer

from shared.email_links import EmailLink, sign
from shared.events import decode
from tests.integration.hostile.conftest import Tenants, Victim
from tests.integration.support import read_topic, wait_for

# Routes anyone may call, and why; the test fails on an unlisted route without the API key,
# so a new public route is a decision, not an accident.
HEALTH = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
PUBLIC: dict[str, dict[str, str]] = {
    "ingest": {
        "/v1/tracker.js": "the browser tracker script",
        "/t/o/{token}": "email open pixel: the signed token is the proof",
        "/t/c/{token}": "tracked link: the signed token is the proof",
        "/v1/{path:path}": "CORS preflight (OPTIONS)",
    },
    "nurture": {"/u/{token}": "one-click unsubscribe: the signed token is the proof"},
}
# Ingest's tracking routes take a write key (tested below for protected fields).
TRACKING = re.compile(r"^/v1/(track|identify|page|screen|group|alias|batch)$")


def bodies(b: Victim) -> dict[tuple[str, str, str], dict[str, Any]]:
    """A valid body for each route that takes one (so A's call gets past validation to the
    workspace check), referring to B's objects wherever a body can name one."""
    template = {"name": "a's", "subject": "s", "text": "t"}
    return {
        ("scoring", "POST", "/v1/leads/{lead_id}/lifecycle"): {"stage": "sql"},
        ("scoring", "PUT", "/v1/scoring/config"): {"model_version": b.ids["model_version"]},
        ("nurture", "POST", "/v1/templates"): template,
        ("nurture", "PUT", "/v1/templates/{template_id}"): template,
        ("nurture", "POST", "/v1/templates/{template_id}/preview"): {"lead_id": b.ids["lead_id"]},
        # A draft rendered for B's lead: must not show B's lead to A.
        ("nurture", "POST", "/v1/templates/preview"): {
            "subject": "{{ lead.email }}",
            "text": "{{ lead.first_name }}",
            "lead_id": b.ids["lead_id"],
        },
        ("nurture", "POST", "/v1/templates/{template_id}/test-send"): {
            "to": "attacker@a.example",
            "lead_id": b.ids["lead_id"],
        },
        ("nurture", "POST", "/v1/sequences"): {
            "name": "a's",
            "definition": {
                "trigger": {"kind": "event", "event": "Never"},
                "steps": [{"kind": "email", "id": "x", "template_id": b.ids["template_id"]}],
            },
        },
        ("nurture", "PUT", "/v1/sequences/{sequence_id}"): {"name": "taken over"},
        ("nurture", "POST", "/v1/sequences/{sequence_id}/enrollments"): {
            "lead_id": b.ids["lead_id"]
        },
        ("nurture", "POST", "/v1/suppressions"): {"email": "someone@a.example"},
        ("nurture", "PUT", "/v1/nurture/config"): {"from_address": "a@a.example"},
        # Workspace-wide by key: A erases (in A) someone unknown, sets A's own origins.
        ("ingest", "POST", "/v1/privacy/erasures"): {"email": "nobody@a.example"},
        ("ingest", "PUT", "/v1/workspace/allowed-origins"): {"allowed_origins": []},
        ("reporting", "POST", "/v1/campaign-costs"): {
            "campaign": "a's",
            "start": "2026-01-01",
            "end": "2026-01-31",
            "amount": 1.0,
        },
    }


# Bodies that name B's objects: A's call must fail even though the route has no B id in
# its path.
NAMES_B = {
    ("scoring", "PUT", "/v1/scoring/config"),
    ("nurture", "POST", "/v1/sequences"),
    ("nurture", "POST", "/v1/templates/preview"),
}


@dataclass
class Call:
    service: str
    method: str
    path: str  # the template
    url: str  # with B's ids
    params: dict[str, str]
    body: dict[str, Any] | None
    has_path_ids: bool


@dataclass
class Tally:
    calls: int = 0
    routes: list[str] = field(default_factory=list)
    owner_sees_own_data: int = 0


def _routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """Every (method, path, route) the app answers, included routers flattened."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            for method in sorted(set(context.methods or ()) - {"HEAD"}):
                found.append((method, context.path, route))
    return found


def _fill(service: str, path: str, b: Victim) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if name == "version" and path.startswith("/v1/models/"):
            return b.ids["model_version"]
        if name == "kind":  # a key kind, not an object: rotates the caller's own write key
            return "write"
        if name == "token":
            return b.ids["unsubscribe_token" if service == "nurture" else "open_token"]
        assert name in b.ids, f"{service} {path}: no id of B for {{{name}}}: add one in conftest"
        return b.ids[name]

    return re.sub(r"\{([^}]+)\}", value, path)


def _query(app: FastAPI, method: str, path: str, b: Victim) -> dict[str, str]:
    """Required query parameters filled with plausible values; optional ones that name an
    object (lead_id, sequence_id, email, …) with B's."""
    operation = app.openapi()["paths"].get(path, {}).get(method.lower(), {})
    params: dict[str, str] = {}
    for p in operation.get("parameters", []):
        if p["in"] != "query":
            continue
        name, schema = p["name"], p.get("schema", {})
        if name in b.ids:
            params[name] = b.ids["lead_email" if name == "email" else name]
        elif p.get("required"):
            params[name] = _plausible(schema)
    return params


def _plausible(schema: dict[str, Any]) -> str:
    kinds = [schema, *schema.get("anyOf", [])]
    for kind in kinds:
        if "enum" in kind:
            return str(kind["enum"][0])
        if kind.get("format") == "date":
            return date.today().isoformat()
        if kind.get("format") == "date-time":
            return datetime.now(UTC).isoformat()
        if kind.get("type") == "integer":
            return str(max(1, kind.get("minimum", 1)))
    return "x"


def _calls(tenants: Tenants) -> list[Call]:
    b = tenants.b
    known_bodies = bodies(b)
    calls = []
    for service, app in tenants.stack.apps.items():
        for method, path, route in _routes(app):
            if path in HEALTH or path in PUBLIC.get(service, {}):
                continue
            if service == "ingest" and TRACKING.match(path):
                continue
            has_body = route.body_field is not None or bool(
                (route.openapi_extra or {}).get("requestBody")
            )
            body = known_bodies.get((service, method, path))
            assert body is not None or not has_body, (
                f"{service} {method} {path} takes a body: add a valid one to bodies()"
            )
            calls.append(
                Call(
                    service,
                    method,
                    path,
                    _fill(service, path, b),
                    _query(app, method, path, b),
                    body,
                    bool(re.search(r"\{(?!kind\})", path)),
                )
            )
    return calls


def _leaks(response: httpx.Response, b: Victim) -> list[str]:
    """B's strings in the answer that the request did not carry itself (an error naming the
    id the caller sent tells the caller nothing new)."""
    request = response.request
    asked = str(request.url) + request.read().decode(errors="replace")
    return [m for m in b.markers if m in response.text and m not in asked]


async def _send(
    client: httpx.AsyncClient, call: Call, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.request(
        call.method, call.url, params=call.params, json=call.body, headers=headers or {}
    )


async def _snapshot(tenants: Tenants) -> dict[str, Any]:
    """What B can see of its own objects, to compare after A's attempts."""
    b = tenants.b
    ids = b.ids
    async with (
        tenants.stack.client("scoring", headers=b.key.auth) as scoring,
        tenants.stack.client("nurture", headers=b.key.auth) as nurture,
    ):
        lead = (await scoring.get(f"/v1/leads/{ids['lead_id']}")).json()
        config = (await scoring.get("/v1/scoring/config")).json()
        template = (await nurture.get(f"/v1/templates/{ids['template_id']}")).json()
        sequence = (await nurture.get(f"/v1/sequences/{ids['sequence_id']}")).json()
        enrollments = (await nurture.get("/v1/enrollments")).json()
        suppressions = (await nurture.get("/v1/suppressions")).json()
        nurture_config = (await nurture.get("/v1/nurture/config")).json()
    return {
        "lead": (lead["stage"], lead["workspace_id"]),
        "scoring config": config,
        "template": template,
        "sequence": (sequence["name"], sequence["status"], sequence["current_version"]),
        "enrollments": [(e["id"], e["status"]) for e in enrollments],
        "suppressions": [s["email"] for s in suppressions["items"]],
        "nurture config": nurture_config,
    }


async def test_a_key_of_one_workspace_reaches_nothing_of_another(tenants: Tenants) -> None:
    a, b, stack = tenants.a, tenants.b, tenants.stack
    calls = _calls(tenants)
    services = {c.service for c in calls}
    assert services == {"ingest", "scoring", "nurture", "reporting"}, services
    before = await _snapshot(tenants)
    tally = Tally()
    problems: list[str] = []
    for call in calls:
        async with stack.client(call.service) as client:
            where = f"{call.service} {call.method} {call.url}"
            tally.routes.append(f"{call.service} {call.method} {call.path}")
            # B itself reaches the object: the ids are real, the markers detectable.
            if call.method == "GET":
                own = await _send(client, call, b.key.auth)
                tally.calls += 1
                if call.has_path_ids and own.status_code != 200:
                    problems.append(f"{where}: B's own call answered {own.status_code}")
                tally.owner_sees_own_data += bool(_leaks(own, b))

            nobody = await _send(client, call)
            write_key = await _send(client, call, {"Authorization": f"Bearer {b.key.write_key}"})
            basic_write = await _send(
                client, call, {"Authorization": httpx.BasicAuth(b.key.write_key, "")._auth_header}
            )
            attacker = await _send(client, call, a.auth)
            tally.calls += 4
            if nobody.status_code != 401:
                problems.append(f"{where} without a key: {nobody.status_code}")
            for r in (write_key, basic_write):
                if r.status_code not in (401, 403):
                    problems.append(f"{where} with B's write key: {r.status_code}")
            for r in (nobody, write_key, basic_write, attacker):
                if _leaks(r, b):
                    problems.append(f"{where}: answer shows B's {_leaks(r, b)}: {r.text[:300]}")
            expected = (
                {403, 404}
                if call.has_path_ids
                else (
                    set(range(400, 500))
                    if (call.service, call.method, call.path) in NAMES_B
                    else set(range(200, 300))
                )
            )
            if attacker.status_code not in expected:
                problems.append(
                    f"{where} with A's key: {attacker.status_code} {attacker.text[:200]}"
                )
    print(
        f"isolation: {len(calls)} route/method pairs, {tally.calls} requests, "
        f"{len(problems)} problems; B saw its own data on {tally.owner_sees_own_data} reads"
    )
    assert not problems, "\n".join(problems)
    assert tally.owner_sees_own_data >= 5  # the leak check can see B's data where it is
    assert await _snapshot(tenants) == before  # nothing of B's changed


async def test_public_routes_show_nothing_of_a_workspace_to_a_forged_token(
    tenants: Tenants,
) -> None:
    """The routes without a key are listed on purpose; their tokens cannot be forged."""
    b, stack = tenants.b, tenants.stack
    for service, app in stack.apps.items():
        listed = {path for _, path, _ in _routes(app)} - HEALTH
        public = {p for p in listed if not p.startswith("/v1/") or p in PUBLIC.get(service, {})}
        unlisted = public - set(PUBLIC.get(service, {}))
        assert not unlisted, f"{service}: routes outside /v1 not reviewed as public: {unlisted}"
    link = EmailLink(b.key.id, b.ids["lead_user_id"], b.ids["lead_id"], "s", b.ids["sequence_id"])
    forged = sign(link, "not-the-secret")
    forged_unsubscribe = URLSafeSerializer("not-the-secret", salt="unsubscribe").dumps(
        [b.key.id, b.ids["lead_id"], b.ids["lead_email"], "s"]
    )
    probes = [
        ("ingest", "GET", f"/t/o/{forged}"),
        ("ingest", "GET", f"/t/c/{forged}"),
        ("ingest", "GET", f"/t/o/{b.ids['open_token']}x"),
        ("nurture", "GET", f"/u/{forged_unsubscribe}"),
        ("nurture", "POST", f"/u/{forged_unsubscribe}"),
        ("nurture", "GET", f"/u/{b.ids['unsubscribe_token']}x"),
    ]
    for service, method, url in probes:
        async with stack.client(service) as client:
            r = await client.request(method, url)
        assert r.status_code == 404, (service, method, url, r.status_code)
        assert not _leaks(r, b), r.text
    for service in stack.apps:
        async with stack.client(service, follow_redirects=True) as client:
            for path in ("/metrics", "/healthz", "/readyz", "/openapi.json"):
                r = await client.get(path)
                assert r.status_code == 200, (service, path)
                assert not _leaks(r, b), (service, path, _leaks(r, b))


async def test_tracking_payloads_cannot_set_protected_fields(
    tenants: Tenants, bootstrap: str
) -> None:
    """Workspace, score, stage, receivedAt and friends in a payload change nothing: the
    event lands in the sender's workspace, received now, and scores like a plain one."""
    b, stack = tenants.b, tenants.stack
    a = stack.new_workspace()  # a config of its own (the fuzz test rewrites A's)
    marker = f"hostile{datetime.now(UTC).strftime('%H%M%S%f')}"
    forged = {
        "workspaceId": b.key.id,
        "workspace_id": b.key.id,
        "writeKey": b.key.write_key,
        "receivedAt": "2001-01-01T00:00:00Z",
        "received_at": "2001-01-01T00:00:00Z",
        "score": 100,
        "stage": "customer",
        "lead_id": b.ids["lead_id"],
        "id": "00000000-0000-0000-0000-000000000001",
        "schema_version": 99,
    }
    forged_traits = {
        "email": f"{marker}@attacker.example",
        "title": "CTO",
        "score": 100,
        "stage": "customer",
        "lifecycle_stage": "customer",
        "workspace_id": b.key.id,
    }
    plain_traits = {**forged_traits, "email": f"{marker}-plain@attacker.example"}
    for k in ("score", "stage", "lifecycle_stage", "workspace_id"):
        plain_traits.pop(k)

    started = datetime.now(UTC)

    async def send(user: str, traits: dict[str, Any], extra: dict[str, Any]) -> list[int]:
        async with stack.client("ingest", auth=(a.write_key, "")) as ingest:
            context = {"context": {"workspaceId": b.key.id}} if extra else {}
            sent = [
                await ingest.post("/v1/identify", json={"userId": user, "traits": traits, **extra}),
                await ingest.post(
                    "/v1/batch",
                    json={
                        "batch": [
                            {"type": "track", "userId": user, "event": "Viewed Docs", **extra}
                        ],
                        **({"writeKey": b.key.write_key} if extra else {}),
                    },
                ),
                # A type in the body of /v1/track does not make it another kind of message.
                await ingest.post(
                    "/v1/track",
                    json={"type": "alias", "userId": user, "event": "Clicked", **extra, **context},
                ),
            ]
        return [r.status_code for r in sent]

    assert await send(marker, forged_traits, forged) == [200, 200, 200]
    assert await send(f"{marker}-plain", plain_traits, {}) == [200, 200, 200]

    events: list[Any] = []

    async def arrived() -> bool:
        nonlocal events
        records = await read_topic(bootstrap, stack.topics.touchpoints)
        events = [decode(r.value) for r in records]
        events = [e for e in events if e.payload.get("user_id") == marker]
        return len(events) >= 3

    await wait_for(arrived, within=30, what="the hostile events in Kafka")
    assert {e.workspace_id for e in events} == {a.id}
    assert all(e.received_at >= started for e in events)
    assert all(str(e.id) != forged["id"] and e.schema_version == 1 for e in events)
    assert sorted(e.type for e in events) == ["identify", "track", "track"]

    async with stack.client("scoring", headers=a.auth) as scoring:

        async def lead(email: str) -> dict[str, Any] | None:
            r = await scoring.get("/v1/leads", params={"email": email})
            items = r.json().get("items") if r.status_code == 200 else None
            return items[0] if items else None

        async def applied(email: str) -> bool:
            found = await lead(email)
            if not found or found["score"] is None:
                return False
            timeline = (await scoring.get(f"/v1/leads/{found['id']}/timeline")).json()
            return len([i for i in timeline if i["kind"] in ("identify", "track")]) >= 3

        async def both_scored() -> bool:
            return await applied(forged_traits["email"]) and await applied(plain_traits["email"])

        await wait_for(both_scored, within=30, what="both leads' three events applied")
        hostile_lead = await lead(forged_traits["email"])
        plain_lead = await lead(plain_traits["email"])
    assert hostile_lead
    assert plain_lead
    # The same events without the forged fields: the same stage and score.
    assert hostile_lead["stage"] == plain_lead["stage"] == "lead"
    assert hostile_lead["score"] == plain_lead["score"] < 100
    assert hostile_lead["id"] != b.ids["lead_id"]
    async with stack.client("scoring", headers=b.key.auth) as scoring:
        r = await scoring.get("/v1/leads", params={"email": forged_traits["email"]})
        assert r.status_code == 200
        assert r.json()["items"] == []
        own = (await scoring.get(f"/v1/leads/{b.ids['lead_id']}/timeline")).json()
    assert marker not in str(own)
