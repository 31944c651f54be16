"""Ingest's /v1/workspace: a workspace reads itself, sets its allowed origins and rotates its
keys over HTTP with its API key; every change reaches the tracking API through Kafka."""

from __future__ import annotations

import httpx

from tests.integration.ingest_server import ingest_server
from tests.integration.support import wait_for


async def test_a_workspace_manages_its_origins_and_keys() -> None:
    async with ingest_server() as ingest:
        ws = ingest.create_workspace()
        await wait_for(lambda: ingest.knows(ws["write_key"]), within=30, what="the workspace")
        api = httpx.AsyncClient(
            base_url=ingest.url, headers={"Authorization": f"Bearer {ws['api_key']}"}
        )
        async with api:
            me = (await api.get("/v1/workspace")).json()
            assert (me["id"], me["allowed_origins"]) == (ws["id"], [])
            assert me["key_prefixes"]["api"] == ws["api_key"][:7] + "…"

            # A write key is no API key; a bad origin is named.
            async with httpx.AsyncClient(base_url=ingest.url) as anyone:
                wrong = await anyone.get(
                    "/v1/workspace", headers={"Authorization": f"Bearer {ws['write_key']}"}
                )
                assert wrong.status_code == 403
                assert (await anyone.get("/v1/workspace")).status_code == 401
            bad = await api.put(
                "/v1/workspace/allowed-origins",
                json={"allowed_origins": ["https://ok.example", "ok.example/shop"]},
            )
            assert bad.status_code == 422
            [problem] = bad.json()["detail"]
            assert problem["loc"] == ["body", "allowed_origins"]
            assert "'ok.example/shop' is not an origin" in problem["msg"]

            done = await api.put(
                "/v1/workspace/allowed-origins",
                json={"allowed_origins": ["HTTPS://Shop.Acme.example/"]},
            )
            assert done.status_code == 200, done.text
            assert done.json()["allowed_origins"] == ["https://shop.acme.example"]

            track = httpx.AsyncClient(base_url=ingest.url, auth=(ws["write_key"], ""))
            async with track:
                other = {"Origin": "https://evil.example"}

                async def refused() -> bool:
                    answer = await track.post("/v1/batch", json={"batch": []}, headers=other)
                    return answer.status_code == 403

                await wait_for(refused, within=30, what="the origin list to reach tracking")
                listed = {"Origin": "https://shop.acme.example"}
                ok = await track.post("/v1/batch", json={"batch": []}, headers=listed)
                assert ok.status_code == 200

            # Rotating the API key: the new one works, the old one stops, within seconds.
            rotated = await api.post("/v1/workspace/keys/api/rotate")
            assert rotated.status_code == 200, rotated.text
            new_key = rotated.json()["key"]
            assert new_key.startswith("sk_")
            assert new_key != ws["api_key"]
            fresh = {"Authorization": f"Bearer {new_key}"}

            async def swapped() -> bool:
                new = await api.get("/v1/workspace", headers=fresh)
                old = await api.get("/v1/workspace")
                return new.status_code == 200 and old.status_code == 401

            await wait_for(swapped, within=30, what="the new API key to replace the old one")
            assert (
                await api.post("/v1/workspace/keys/ink/rotate", headers=fresh)
            ).status_code == 422
