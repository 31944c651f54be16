"""The four services in-process (tests/integration/stack.py), started once for the isolation,
fuzz and poison-message tests, with two workspaces: A (the attacker) and B (the victim, with
real objects in every service: a lead, a template, a sequence, an enrollment, a suppression,
a model of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.nurture.domain.unsubscribe import unsubscribe_token
from services.scoring.store import registry
from shared.email_links import EmailLink, sign
from tests.e2e.test_ingest_to_scoring import keen_buyer_batch
from tests.integration.smtp_support import Recorder, running_smtp
from tests.integration.stack import SECRET, Key, Stack, running_stack

DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "services/scoring/default_model.joblib"


@dataclass
class Victim:
    """Workspace B and its objects; `ids` fills path parameters, `markers` are strings of B's
    data that must never show in an answer to A."""

    key: Key
    ids: dict[str, str]
    markers: list[str]


@dataclass
class Tenants:
    stack: Stack
    smtp: Recorder
    a: Key
    b: Victim
    a_objects: Victim  # A's own objects, for the fuzzer to reach past 404s


def _template(marker: str) -> dict[str, Any]:
    return {
        "name": f"tpl {marker}",
        "subject": f"Hello from {marker}",
        "html": f'<p>{marker}</p><a data-leadflow="unsubscribe" href="{{{{ unsubscribe_url }}}}">'
        "Unsubscribe</a>",
        "text": f"{marker}",
    }


def _sequence(marker: str, template_id: str) -> dict[str, Any]:
    return {
        "name": f"seq {marker}",
        "definition": {
            "trigger": {"kind": "event", "event": f"Never {marker}"},
            "steps": [
                {"kind": "wait", "id": "first-wait", "duration": "P30D"},
                {"kind": "email", "id": "hello", "template_id": template_id},
            ],
            "exit": {"stages": ["customer"]},
            "reentry": {"policy": "never"},
        },
    }


async def _until(call: Any, ok: Any, what: str, within: float = 60) -> httpx.Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        response = await call()
        if ok(response):
            return response
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {response.text}")
        await asyncio.sleep(0.2)


async def _populate(stack: Stack, b: Key) -> Victim:
    marker = f"bsecret{uuid.uuid4().hex[:8]}"
    email = f"{marker}@victim.example"
    user_id = f"user-{marker}"
    anonymous_id = f"anon-{marker}"
    ingest = stack.client("ingest", auth=(b.write_key, ""))
    scoring = stack.client("scoring", headers=b.auth)
    nurture = stack.client("nurture", headers=b.auth)
    async with ingest, scoring, nurture:
        sent = await ingest.post("/v1/batch", json=keen_buyer_batch(anonymous_id, user_id, email))
        assert sent.status_code == 200, sent.text
        found = await _until(
            lambda: scoring.get("/v1/leads", params={"email": email}),
            lambda r: r.status_code == 200 and r.json().get("items"),
            "B's lead in scoring",
        )
        lead_id = found.json()["items"][0]["id"]
        template = await nurture.post("/v1/templates", json=_template(marker))
        assert template.status_code == 201, template.text
        template_id = template.json()["id"]
        sequence = await nurture.post("/v1/sequences", json=_sequence(marker, template_id))
        assert sequence.status_code == 201, sequence.text
        sequence_id = sequence.json()["id"]
        active = await nurture.post(f"/v1/sequences/{sequence_id}/activate")
        assert active.status_code == 200, active.text
        enrolled = await _until(
            lambda: nurture.post(
                f"/v1/sequences/{sequence_id}/enrollments", json={"lead_id": lead_id}
            ),
            lambda r: r.status_code == 201,
            "B's lead enrolled in nurture",
        )
        suppressed_email = f"{marker}-suppressed@victim.example"
        suppression = await nurture.post("/v1/suppressions", json={"email": suppressed_email})
        assert suppression.status_code == 201, suppression.text
    model_version = f"m{marker}"

    async def register_model() -> None:
        async with stack.apps["scoring"].state.runtime.sessions() as session, session.begin():
            await registry.register(
                session,
                version=model_version,
                source=f"trained for {marker}",
                metrics={},
                artifact=DEFAULT_MODEL.read_bytes(),
                secret=stack.apps["scoring"].state.settings.secret_key.get_secret_value(),
                workspace_id=b.id,
            )

    stack.run(register_model())
    link = EmailLink(b.id, user_id, lead_id, f"send-{marker}", sequence_id, "hello")
    ids = {
        "lead_id": lead_id,
        "template_id": template_id,
        "sequence_id": sequence_id,
        "enrollment_id": enrolled.json()["id"],
        "email": suppressed_email,
        "model_version": model_version,
        "version": "1",
        "workspace_id": b.id,
        "lead_user_id": user_id,
        "lead_email": email,
        "open_token": sign(link, SECRET),
        "click_token": sign(
            EmailLink(**{**vars(link), "url": f"https://victim.example/{marker}"}), SECRET
        ),
        "unsubscribe_token": unsubscribe_token(
            SECRET, workspace_id=b.id, lead_id=lead_id, email=email, send_id=f"send-{marker}"
        ),
    }
    markers = [marker, lead_id, template_id, sequence_id, ids["enrollment_id"], b.id]
    return Victim(b, ids, markers)


@pytest.fixture(scope="package")  # stopped once this folder's tests are done
def tenants(database_url: str, bootstrap: str) -> Iterator[Tenants]:
    with contextlib.ExitStack() as resources:
        recorder, smtp_port = resources.enter_context(running_smtp())
        stack = resources.enter_context(running_stack(database_url, bootstrap, smtp_port))
        a = stack.new_workspace()
        b = stack.new_workspace()
        victim = asyncio.run(_populate(stack, b))
        own = asyncio.run(_populate(stack, a))
        yield Tenants(stack, recorder, a, victim, own)
