import httpx
from fastapi import FastAPI

from services.ingest.api.tracking import FastPath


async def test_tracking_posts_skip_the_framework_and_other_requests_reach_it() -> None:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    transport = httpx.ASGITransport(app=FastPath(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        health = await client.get("/healthz")
        # No ingest state on this bare app: the handler fails, and the fast path still answers.
        broken = await client.post("/v1/track", json={"userId": "u", "event": "e"})
        unknown = await client.post("/v1/teleport", json={})
    assert health.json() == {"status": "ok"}
    assert broken.status_code == 500
    assert broken.json() == {"success": False, "error": "internal error"}
    assert unknown.status_code == 404  # not a tracking path: FastAPI answered
