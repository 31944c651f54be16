"""Ingest's CORS preflight grants only origins a workspace allows (issue 22, item 10b); it
used to reflect whatever Origin it was sent."""

from __future__ import annotations

import httpx

from tests.integration.ingest_server import service_server
from tests.integration.support import wait_for

SHOP = "https://shop.example"
ASKED = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}


async def test_a_preflight_from_an_origin_no_workspace_allows_is_not_granted() -> None:
    # Topics of its own: the only workspace this ingest knows lists one origin.
    async with service_server("ingest") as ingest:
        ws = ingest.create_workspace("--allowed-origin", SHOP)
        await wait_for(lambda: ingest.knows(ws["write_key"]), within=30, what="the workspace")
        async with httpx.AsyncClient(base_url=ingest.url) as client:
            evil = await client.options(
                "/v1/batch", headers={"Origin": "https://evil.example", **ASKED}
            )
            shop = await client.options("/v1/batch", headers={"Origin": SHOP, **ASKED})
    assert evil.status_code == 204
    assert "access-control-allow-origin" not in evil.headers
    assert "access-control-allow-headers" not in evil.headers
    assert shop.headers["access-control-allow-origin"] == SHOP
    assert shop.headers["vary"] == "Origin"
