"""Across services: events sent to ingest become stitched leads read from scoring's API."""

from __future__ import annotations

import httpx

from tests.integration.ingest_server import service_server
from tests.integration.support import wait_for


async def test_a_visitor_who_signs_up_is_one_lead_in_the_scoring_api() -> None:
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

            async def accepted(path: str, body: dict[str, object]) -> bool:
                return (await track.post(path, json=body)).status_code == 200

            await wait_for(
                lambda: accepted(
                    "/v1/page", {"anonymousId": "b-1", "properties": {"path": "/pricing"}}
                ),
                within=15,
                what="page accepted",
            )
            assert await accepted("/v1/track", {"anonymousId": "b-1", "event": "Requested Demo"})
            assert await accepted(
                "/v1/identify",
                {
                    "anonymousId": "b-1",
                    "userId": "u-7",
                    "traits": {"email": "Grace@Navy.example", "title": "CTO"},
                },
            )

            async def known() -> bool:
                return (
                    await api.get("/v1/leads", params={"email": "grace@navy.example"})
                ).status_code == 200

            await wait_for(known, within=30, what="the lead in scoring's API")
            lead = (await api.get("/v1/leads", params={"user_id": "u-7"})).json()
            assert {(i["kind"], i["value"]) for i in lead["identities"]} == {
                ("anonymous", "b-1"),
                ("user", "u-7"),
                ("email", "grace@navy.example"),
            }
            assert lead["traits"]["title"] == "CTO"
            assert lead["features"]["pricing_views_7d"] == 1
            assert lead["features"]["high_intent_7d"] == 2
            assert lead["features"]["seniority"] == 5
            by_id = await api.get(f"/v1/leads/{lead['id']}")
            # The same lead by id (features differ only by the time that passed: recency).
            assert {k: v for k, v in by_id.json().items() if k != "features"} == {
                k: v for k, v in lead.items() if k != "features"
            }

            # Keys: another workspace sees nothing, a write key is refused, none is 401.
            foreign = await api.get(
                f"/v1/leads/{lead['id']}", headers={"Authorization": f"Bearer {other['api_key']}"}
            )
            write_key = await api.get(
                f"/v1/leads/{lead['id']}", headers={"Authorization": f"Bearer {ws['write_key']}"}
            )
            missing = await api.get(f"/v1/leads/{lead['id']}", headers={"Authorization": ""})
            bad_query = await api.get("/v1/leads", params={"email": "a@b.example", "user_id": "x"})
            assert (
                foreign.status_code,
                write_key.status_code,
                missing.status_code,
                bad_query.status_code,
            ) == (404, 403, 401, 400)
            assert (await api.get("/v1/identity-conflicts")).json() == []
