"""Across services: events sent to ingest become scored leads that move through the
lifecycle, read and acted on through scoring's API, published on lead-events."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.store.tables import models
from tests.integration.ingest_server import service_server
from tests.integration.support import read_events, wait_for


def keen_buyer_batch(anonymous_id: str, user_id: str, email: str) -> dict[str, Any]:
    visits = [
        {"type": "page", "anonymousId": anonymous_id, "properties": {"path": path}}
        for _ in range(4)
        for path in ("/pricing", "/demo", "/customers/acme")
    ]
    return {
        "batch": [
            {"type": "page", "anonymousId": anonymous_id, "properties": {"path": "/"}},
            {"type": "track", "anonymousId": anonymous_id, "event": "Requested Demo"},
            {
                "type": "identify",
                "anonymousId": anonymous_id,
                "userId": user_id,
                "traits": {
                    "email": email,
                    "title": "CTO",
                    "company": {"employees": 3000, "industry": "software"},
                },
            },
            *visits,
        ]
    }


async def test_a_keen_visitor_becomes_an_mql_that_sales_accepts(
    bootstrap: str, engine: AsyncEngine
) -> None:
    async with (
        service_server("ingest") as ingest,
        service_server("scoring", prefix=ingest.topics.prefix) as scoring,
    ):
        ws = ingest.create_workspace()
        other = ingest.create_workspace()
        track = httpx.AsyncClient(base_url=ingest.url, auth=(ws["write_key"], ""))
        api = httpx.AsyncClient(
            base_url=scoring.url, headers={"Authorization": f"Bearer {ws['api_key']}"}
        )
        async with track, api:
            await wait_for(lambda: ingest.knows(ws["write_key"]), within=15, what="workspace")
            sent = await track.post(
                "/v1/batch", json=keen_buyer_batch("b-1", "u-7", "Grace@Navy.example")
            )
            assert sent.status_code == 200, sent.text

            async def stage() -> str | None:
                page = (await api.get("/v1/leads", params={"email": "grace@navy.example"})).json()
                return page["items"][0]["stage"] if page.get("items") else None

            await wait_for(lambda: _is(stage(), "mql"), within=30, what="the lead to become an MQL")
            [summary] = (await api.get("/v1/leads", params={"user_id": "u-7"})).json()["items"]
            lead = (await api.get(f"/v1/leads/{summary['id']}")).json()
            assert {(i["kind"], i["value"]) for i in lead["identities"]} == {
                ("anonymous", "b-1"),
                ("user", "u-7"),
                ("email", "grace@navy.example"),
            }
            assert lead["score"] >= 40
            assert lead["fit"] >= 30
            assert lead["model_version"]
            assert any("pricing" in f["text"] for f in lead["factors"]), lead["factors"]
            assert [h["stage"] for h in lead["stage_history"]] == ["subscriber", "lead", "mql"]
            timeline = (await api.get(f"/v1/leads/{lead['id']}/timeline")).json()
            assert {i["kind"] for i in timeline} >= {"page", "track", "identify", "stage"}

            # Lists: by stage and score, paginated with a cursor.
            mqls = (await api.get("/v1/leads", params={"stage": "mql", "min_score": 40})).json()
            assert [i["id"] for i in mqls["items"]] == [lead["id"]]
            await track.post("/v1/page", json={"anonymousId": "b-2", "properties": {"path": "/"}})
            await wait_for(lambda: _count(api, 2), within=30, what="a second lead")
            first = (await api.get("/v1/leads", params={"limit": 1})).json()
            second = (
                await api.get("/v1/leads", params={"limit": 1, "cursor": first["next_cursor"]})
            ).json()
            assert first["items"][0]["id"] == lead["id"]  # highest score first
            assert second["items"][0]["id"] != lead["id"]
            assert second["next_cursor"] is None

            # Sales: a refused move says why; accepting makes an SQL.
            path = f"/v1/leads/{lead['id']}/lifecycle"
            no_reason = await api.post(path, json={"stage": "disqualified"})
            assert no_reason.status_code == 409
            assert "reason is required" in no_reason.json()["detail"]
            bad_stage = await api.post(path, json={"stage": "vip"})
            assert bad_stage.status_code == 422
            accepted = await api.post(path, json={"stage": "sql", "reason": "called, has budget"})
            assert accepted.status_code == 200, accepted.text
            assert accepted.json()["stage"] == "sql"
            again = await api.post(path, json={"stage": "sql"})
            assert again.status_code == 409

            # Each transition once on lead-events, through the outbox relay.
            async def transitions() -> list[tuple[str | None, str]]:
                events = await read_events(bootstrap, ingest.topics.lead_events)
                return [
                    (e.payload["from_stage"], e.payload["to_stage"])
                    for e in events
                    if e.type == "lead.lifecycle_changed" and e.payload["lead_id"] == lead["id"]
                ]

            await wait_for(lambda: _has_len(transitions(), 4), within=30, what="4 transitions")
            assert await transitions() == [
                (None, "subscriber"),
                ("subscriber", "lead"),
                ("lead", "mql"),
                ("mql", "sql"),
            ]
            changes = (
                await api.get("/v1/lifecycle-changes", params={"lead_id": lead["id"]})
            ).json()
            assert [c["stage"] for c in changes] == ["subscriber", "lead", "mql", "sql"]
            assert changes[-1]["actor"] == "sales"

            # Configuration is validated and per workspace.
            bad = await api.put("/v1/scoring/config", json={"thresholds": {"mql_score": 300}})
            assert bad.status_code == 422
            assert "mql_score" in str(bad.json()["detail"])
            good = await api.put("/v1/scoring/config", json={"thresholds": {"mql_score": 70}})
            assert good.status_code == 200
            assert (await api.get("/v1/scoring/config")).json()["thresholds"]["mql_score"] == 70

            # Keys: another workspace sees nothing, a write key is refused, none is 401.
            def as_(key: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {key}"}

            codes = [
                (
                    await api.get(f"/v1/leads/{lead['id']}", headers=as_(other["api_key"]))
                ).status_code,
                (
                    await api.post(path, json={"stage": "customer"}, headers=as_(other["api_key"]))
                ).status_code,
                (
                    await api.get(f"/v1/leads/{lead['id']}", headers=as_(ws["write_key"]))
                ).status_code,
                (
                    await api.get(f"/v1/leads/{lead['id']}", headers={"Authorization": ""})
                ).status_code,
                (
                    await api.get("/v1/leads", params={"email": "a@b.example", "user_id": "x"})
                ).status_code,
            ]
            assert codes == [404, 404, 403, 401, 400]
            foreign_list = await api.get("/v1/leads", headers=as_(other["api_key"]))
            assert foreign_list.json()["items"] == []
            assert (await api.get("/v1/identity-conflicts")).json() == []


async def test_a_promoted_model_scores_the_next_event_without_a_restart(
    engine: AsyncEngine,
) -> None:
    async with (
        service_server("ingest") as ingest,
        service_server(
            "scoring", prefix=ingest.topics.prefix, SCORING_MODEL_POLL_SECONDS="0.5"
        ) as scoring,
    ):
        ws = ingest.create_workspace()
        track = httpx.AsyncClient(base_url=ingest.url, auth=(ws["write_key"], ""))
        api = httpx.AsyncClient(
            base_url=scoring.url, headers={"Authorization": f"Bearer {ws['api_key']}"}
        )
        async with track, api:
            await wait_for(lambda: ingest.knows(ws["write_key"]), within=15, what="workspace")
            await track.post("/v1/page", json={"anonymousId": "swap", "properties": {"path": "/"}})

            async def version() -> str | None:
                page = (await api.get("/v1/leads", params={"anonymous_id": "swap"})).json()
                return page["items"][0]["model_version"] if page["items"] else None

            await wait_for(version, within=30, what="the first score")
            before = await version()
            trained = await asyncio.to_thread(
                scoring.run_cli,
                "scoring",
                "train",
                "--simulated",
                "800",
                "--seed",
                "5",
                "--out",
                "/tmp/leadflow-test-models",
            )
            new = trained.split("saved model ", 1)[1].split()[0]
            assert new != before
            try:
                scoring.run_cli("scoring", "promote", new)
                listed = (await api.get("/v1/models")).json()
                assert any(m["version"] == new and m["live"] for m in listed)

                async def rescored() -> bool:
                    # The service polls the registry (every 0.5 s here): a page view at a
                    # time, until one is scored by the new model (no fixed sleep to guess it).
                    if await version() == new:
                        return True
                    await track.post(
                        "/v1/page", json={"anonymousId": "swap", "properties": {"path": "/pricing"}}
                    )
                    return False

                await wait_for(rescored, within=30, what="scores by the new model", every=0.5)
            finally:
                async with engine.begin() as conn:  # other tests expect the shipped default
                    await conn.execute(update(models).where(models.c.live).values(live=False))


async def _is(value: Any, wanted: object) -> bool:
    return bool(await value == wanted)


async def _has_len(value: Any, n: int) -> bool:
    return len(await value) >= n


async def _count(api: httpx.AsyncClient, n: int) -> bool:
    return len((await api.get("/v1/leads")).json()["items"]) >= n
