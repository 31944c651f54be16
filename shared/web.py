"""FastAPI app factory: lifespan with the service runtime, health, readiness and metrics."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from prometheus_client import make_asgi_app
from sqlalchemy import Table
from sqlalchemy.exc import StatementError

from shared.body_limit import BodyLimit
from shared.http_metrics import HttpMetrics
from shared.http_security import Hsts
from shared.logging import configure_logging
from shared.readiness import public_readiness
from shared.runtime import ServiceRuntime, service_runtime
from shared.settings import BaseServiceSettings

# For routes that answer JSON or, when asked, CSV: both media types in the OpenAPI.
CSV_OR_JSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}
}

# A service's own start-up and shutdown, around the shared runtime (e.g. caches, consumers).
Extension = Callable[[FastAPI, ServiceRuntime], AbstractAsyncContextManager[None]]


def get_runtime(request: Request) -> ServiceRuntime:
    """The runtime the lifespan built (a FastAPI dependency; shared/deps.py's Runtime)."""
    runtime = request.app.state.runtime
    assert isinstance(runtime, ServiceRuntime)
    return runtime


def get_settings(request: Request) -> BaseServiceSettings:
    """The settings the app was built with (a FastAPI dependency)."""
    settings = request.app.state.settings
    assert isinstance(settings, BaseServiceSettings)
    return settings


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz(
        settings: Annotated[BaseServiceSettings, Depends(get_settings)],
    ) -> dict[str, str]:
        """Alive: the process answers (no dependency checked)."""
        return {"status": "ok", "service": settings.service_name}

    @router.get("/readyz", response_model=None)
    async def readyz(runtime: Annotated[ServiceRuntime, Depends(get_runtime)]) -> JSONResponse:
        """Ready: the database and Kafka both answer (why not is logged, not shown)."""
        body, status = public_readiness(await runtime.readiness())
        return JSONResponse(body, status)

    return router


# SQLSTATEs of text PostgreSQL cannot store: NUL (\u0000) in text or in jsonb.
UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


async def unstorable_input(request: Request, exc: Exception) -> Response:
    """Input PostgreSQL or the JSON encoder refuses, answered 422 naming the problem instead
    of a 500 (schemathesis found both on several routes): a NUL character in text or jsonb,
    an integer over 64 bits in a JSON document."""
    assert isinstance(exc, StatementError)
    driver = getattr(exc.orig, "driver_exception", exc.orig)
    if getattr(driver, "sqlstate", None) in UNSTORABLE_TEXT:
        where = "query" if b"%00" in request.scope.get("query_string", b"") else "body"
        if "\x00" in request.url.path:
            where = "path"
        problem = {
            "loc": [where],
            "msg": "contains a character that cannot be stored (NUL, \\u0000)",
            "type": "nul_character",
        }
    elif isinstance(exc.orig, TypeError) and "64-bit" in str(exc.orig):
        problem = {"loc": ["body"], "msg": "a number is over 64 bits", "type": "too_large"}
    else:
        raise exc
    return JSONResponse({"detail": [problem]}, 422)  # the shape of FastAPI's 422s


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
    app.add_exception_handler(StatementError, unstorable_input)
    app.include_router(health_router())
    for router in routers:
        app.include_router(router)
    # Inside the metrics (its 413s are counted) and HSTS, outside everything reading a body.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Hsts)
    app.add_middleware(HttpMetrics, service=settings.service_name)
    app.mount("/metrics", make_asgi_app())
    return app
