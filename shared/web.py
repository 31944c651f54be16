"""FastAPI app factory: lifespan with the service runtime, health, readiness and metrics."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from prometheus_client import make_asgi_app
from sqlalchemy import Table

from shared.http_metrics import HttpMetrics
from shared.logging import configure_logging
from shared.runtime import ServiceRuntime, service_runtime
from shared.settings import BaseServiceSettings

# A service's own start-up and shutdown, around the shared runtime (e.g. caches, consumers).
Extension = Callable[[FastAPI, ServiceRuntime], AbstractAsyncContextManager[None]]


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz(request: Request) -> dict[str, str]:
        """Alive: the process answers (no dependency checked)."""
        return {"status": "ok", "service": request.app.state.settings.service_name}

    @router.get("/readyz", response_model=None)
    async def readyz(request: Request) -> JSONResponse:
        """Ready: the database and Kafka both answer."""
        checks = await request.app.state.runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
        )

    return router


def create_service_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    inbox: Table,
    outbox: Table,
    routers: Sequence[APIRouter] = (),
    extension: Extension | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level, settings.log_json)
        async with AsyncExitStack() as stack:
            runtime = await stack.enter_async_context(
                service_runtime(settings, inbox=inbox, outbox=outbox)
            )
            app.state.runtime = runtime
            if extension is not None:
                await stack.enter_async_context(extension(app, runtime))
            # What start-up built lives as long as the process: keep it out of the cyclic
            # GC's full passes, whose pauses showed as p99 latency spikes under load.
            gc.freeze()
            yield

    # Metrics are Prometheus (/metrics); FastAPI's built-in OpenTelemetry would only add
    # per-request cost with no exporter configured.
    no_otel: TelemetryConfig = {
        "tracing": False,
        "metrics": False,
        "logs": False,
        "operation_spans": False,
    }
    app = FastAPI(title=title, lifespan=lifespan, telemetry=no_otel)
    app.state.settings = settings
    app.include_router(health_router())
    for router in routers:
        app.include_router(router)
    app.add_middleware(HttpMetrics, service=settings.service_name)
    app.mount("/metrics", make_asgi_app())
    return app
