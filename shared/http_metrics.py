"""Prometheus metrics for HTTP requests, as a bare ASGI middleware.

Written on prometheus_client directly: the instrumentator library cost a quarter of the
ingest service's throughput on its one-event requests (measured with `make bench`).
"""

from __future__ import annotations

from time import perf_counter

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "leadflow_http_requests_total",
    "HTTP requests answered",
    ["service", "method", "route", "status"],
)
DURATION = Histogram(
    "leadflow_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
NOT_COUNTED = frozenset({"/metrics", "/healthz", "/readyz"})


class HttpMetrics:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = _template(scope)
            if route not in NOT_COUNTED and not route.startswith("/metrics"):
                record(self.service, scope["method"], route, status, perf_counter() - start)


def record(service: str, method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(service, method, route, str(status)).inc()
    DURATION.labels(service, route).observe(seconds)


def _template(scope: Scope) -> str:
    """The path with its parameters named, e.g. /t/o/{token}: a label that stays small."""
    if "endpoint" not in scope:  # no route matched: never label by a path a client made up
        return "unmatched"
    path: str = scope["path"]
    for name, value in (scope.get("path_params") or {}).items():
        path = path.replace(str(value), "{" + name + "}")
    return path
