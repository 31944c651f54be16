import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from shared.http_metrics import HttpMetrics


def count(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "leadflow_http_requests_total",
        {"service": "t", "method": "GET", "route": route, "status": status},
    )
    return value or 0.0


async def test_requests_are_counted_by_route_template_never_by_raw_path() -> None:
    app = FastAPI()

    @app.get("/t/o/{token}")
    async def pixel(token: str) -> dict[str, str]:
        return {"token": token}

    app.add_middleware(HttpMetrics, service="t")
    before = (count("/t/o/{token}", "200"), count("unmatched", "404"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://x"
    ) as client:
        await client.get("/t/o/abc")
        await client.get("/t/o/def")
        await client.get("/made-up/by/a/client")
    assert count("/t/o/{token}", "200") - before[0] == 2
    assert count("unmatched", "404") - before[1] == 1
    assert count("/made-up/by/a/client", "404") == 0
