"""Erasing a person, across the running services: their personal data (email, user id,
anonymous id, profile) leaves every service's tables and read models, their queued emails
stop, their later events are ignored, and the erasure (like key changes and consent changes)
leaves exactly one audit record. No email address or key appears in any service's log."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.test_ingest_to_scoring import keen_buyer_batch
from tests.e2e.test_mql_to_inbox import WELCOME, sequence
from tests.integration.ingest_server import SECRET, four_services
from tests.integration.smtp_support import Recorder
from tests.integration.support import read_events, wait_for

SCHEMAS = ("ingest", "scoring", "nurture", "reporting")
ANYTIME = {"start": "00:00", "end": "23:59", "days": [1, 2, 3, 4, 5, 6, 7]}


async def rows_mentioning(engine: AsyncEngine, needles: list[str]) -> dict[str, int]:
    """table -> rows whose text form contains any needle, over every service's schema."""
    found: dict[str, int] = {}
    async with engine.connect() as conn:
        tables = await conn.execute(
            text(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema = any(:schemas) and table_type = 'BASE TABLE'"
            ),
            {"schemas": list(SCHEMAS)},
        )
        for schema, table in tables.all():
            n = await conn.scalar(
                text(
                    f'select count(*) from "{schema}"."{table}" t '
                    "where t::text ilike any(:patterns)"
                ),
                {"patterns": [f"%{n}%" for n in needles]},
            )
            if n:
                found[f"{schema}.{table}"] = int(n)
    return found


async def profiles_of(engine: AsyncEngine, lead_id: str) -> dict[str, int]:
    """Profile rows under a lead id. (Rows that only count, such as a send or a stage entry,
    keep the lead id: nothing links it to the person any more.)"""
    found = {}
    async with engine.connect() as conn:
        for table in ("scoring.leads", "scoring.identities", "nurture.leads", "nurture.lead_keys"):
            column = "id" if table == "scoring.leads" else "lead_id"
            n = await conn.scalar(
                text(f"select count(*) from {table} where {column} = :id"), {"id": lead_id}
            )
            if n:
                found[table] = int(n)
    return found


async def test_an_erased_person_is_gone_everywhere_and_stays_gone(
    smtp: tuple[Recorder, int], engine: AsyncEngine, bootstrap: str
) -> None:
    recorder, smtp_port = smtp
    tag = uuid.uuid4().hex[:8]
    grace = {
        "anon": f"anon-grace-{tag}",
        "user": f"user-grace-{tag}",
        "email": f"grace-{tag}@navy.example",
    }
    alan = {
        "anon": f"anon-alan-{tag}",
        "user": f"user-alan-{tag}",
        "email": f"alan-{tag}@bletchley.example",
    }
    async with four_services(smtp_port) as (ingest, scoring, reporting, nurture):
        ws = ingest.create_workspace()
        auth = {"Authorization": f"Bearer {ws['api_key']}"}
        async with (
            httpx.AsyncClient(base_url=ingest.url, headers=auth) as privacy,
            httpx.AsyncClient(base_url=nurture.url, headers=auth) as mail,
            httpx.AsyncClient(base_url=scoring.url, headers=auth) as leads,
        ):
            await wait_for(
                lambda: _ok(mail.get("/v1/nurture/config")), within=30, what="nurture knows the key"
            )
            await _welcome_sequence(mail)
            # A consent change and a key change, each to be audited once.
            suppressed = await mail.post(
                "/v1/suppressions", json={"email": f"nobody-{tag}@x.example", "reason": "manual"}
            )
            assert suppressed.status_code == 201, suppressed.text
            write_key = ingest.leadflow("workspace", "rotate-key", ws["id"], "--kind", "write")[
                "write_key"
            ]
            await wait_for(lambda: ingest.knows(write_key), within=30, what="the new write key")
            track = httpx.AsyncClient(base_url=ingest.url, auth=(write_key, ""))
            async with track:
                for who in (grace, alan):
                    batch = keen_buyer_batch(who["anon"], who["user"], who["email"])
                    assert (await track.post("/v1/batch", json=batch)).status_code == 200
                await wait_for(
                    lambda: bool(recorder.to(grace["email"])), within=60, what="Grace's email"
                )
                grace_lead = await _lead(leads, grace["email"])
                alan_lead = await _lead(leads, alan["email"])
                assert await rows_mentioning(engine, [grace["email"]]), "Grace is in the tables"

                erased = await privacy.post("/v1/privacy/erasures", json={"email": grace["email"]})
                assert erased.status_code == 202, erased.text

                left: dict[str, int] = {}

                async def gone() -> bool:
                    nonlocal left
                    left = await rows_mentioning(engine, list(grace.values()))
                    left |= await profiles_of(engine, grace_lead)
                    return not left

                try:
                    await wait_for(gone, within=60, what="Grace's data to leave every table")
                except AssertionError:
                    raise AssertionError(f"Grace is still in {left}") from None
                assert (await leads.get(f"/v1/leads/{grace_lead}")).status_code == 404
                enrollments = (
                    await mail.get("/v1/enrollments", params={"lead_id": grace_lead})
                ).json()
                assert [(e["status"], e["exit_reason"]) for e in enrollments] == [
                    ("exited", "erased")
                ]

                # Grace comes back (same browser, same account): nothing of her is kept.
                # Alan's event afterwards shows when scoring has caught up.
                again = keen_buyer_batch(grace["anon"], grace["user"], grace["email"])
                assert (await track.post("/v1/batch", json=again)).status_code == 200
                assert (
                    await track.post(
                        "/v1/page",
                        json={"anonymousId": grace["anon"], "properties": {"path": "/pricing"}},
                    )
                ).status_code == 200
                before = await _seen(leads, alan_lead)
                marker = {"userId": alan["user"], "event": f"Marker {tag}"}
                assert (await track.post("/v1/track", json=marker)).status_code == 200
                await wait_for(
                    lambda: _later(leads, alan_lead, before), within=30, what="Alan's marker"
                )
                assert await rows_mentioning(engine, list(grace.values())) == {}
                assert await profiles_of(engine, grace_lead) == {}
                # Ingest dropped what named her (her user id): it never reached Kafka again.
                named = [
                    e
                    for e in await read_events(bootstrap, ingest.topics.touchpoints)
                    if e.payload.get("user_id") == grace["user"]
                ]
                assert len(named) == 1  # the identify before the erasure
                assert await rows_mentioning(engine, [alan["email"]]), "Alan is untouched"
                assert len(recorder.to(grace["email"])) == 1

            ingest_audit = [a["action"] for a in (await privacy.get("/v1/audit")).json()]
            assert sorted(ingest_audit) == ["key.rotated", "person.erased", "workspace.created"]
            nurture_audit = [a["action"] for a in (await mail.get("/v1/audit")).json()]
            assert sorted(nurture_audit) == ["consent.suppressed", "person.erased"]
            for entry in (await privacy.get("/v1/audit")).json() + (
                await mail.get("/v1/audit")
            ).json():
                assert grace["email"] not in str(entry)
                assert grace["user"] not in str(entry)

        secrets = [grace["email"], alan["email"], ws["api_key"], ws["write_key"], write_key, SECRET]
        for server in (ingest, scoring, nurture, reporting):
            log = server.log_text()
            assert [s for s in secrets if s in log] == [], (
                f"a secret or an email in {server.url}'s log"
            )


async def _welcome_sequence(mail: httpx.AsyncClient) -> None:
    assert (
        await mail.put("/v1/nurture/config", json={"send_window": ANYTIME, "caps": []})
    ).status_code == 200
    template = await mail.post("/v1/templates", json=WELCOME)
    assert template.status_code == 201, template.text
    created = await mail.post("/v1/sequences", json=sequence(template.json()["id"]))
    assert created.status_code == 201, created.text
    assert (await mail.post(f"/v1/sequences/{created.json()['id']}/activate")).status_code == 200


async def _lead(leads: httpx.AsyncClient, email: str) -> str:
    async def found() -> str | None:
        items = (await leads.get("/v1/leads", params={"email": email})).json()["items"]
        return str(items[0]["id"]) if items else None

    lead_id: str = await wait_for(found, within=60, what=f"the lead of {email}")
    return lead_id


async def _seen(leads: httpx.AsyncClient, lead_id: str) -> str:
    return str((await leads.get(f"/v1/leads/{lead_id}")).json()["last_seen_at"])


async def _later(leads: httpx.AsyncClient, lead_id: str, before: str) -> bool:
    return await _seen(leads, lead_id) != before


async def _ok(response: Any) -> bool:
    return bool((await response).status_code == 200)
