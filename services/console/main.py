"""Wiring of the console; run it with `leadflow serve console`.

It keeps no state of its own: the session cookie (signed with LEADFLOW_SECRET_KEY) holds the
workspace's API key, and every page is built from the services' APIs (adapters/client.py).
It consumes no events and has no database."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import make_asgi_app
from starlette.middleware.sessions import SessionMiddleware

from services.console.api import (
    auth,
    errors,
    funnel,
    health,
    leads,
    sequences,
    settings,
    templates,
)
from services.console.settings import ConsoleSettings
from shared.body_limit import BodyLimit
from shared.http_metrics import HttpMetrics
from shared.http_security import Hsts
from shared.logging import configure_logging

STATIC = Path(__file__).parent / "static"
PAGES = (auth, leads, sequences, templates, funnel, settings)
# Everything the pages use comes from the console itself (the machine may have no internet).
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.url.path != "/healthz" and not request.url.path.startswith("/static"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def create_app(config: ConsoleSettings | None = None) -> FastAPI:
    config = config or ConsoleSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(config.service_name, config.log_level, config.log_json)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per API call
        async with httpx.AsyncClient(timeout=config.api_timeout_seconds) as http:
            app.state.http = http
            yield

    app = FastAPI(title="LeadFlow console", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = config
    app.include_router(health.router)
    for module in PAGES:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/metrics", make_asgi_app())
    errors.install(app)
    # Innermost of the middleware, so its 413 gets the security headers; before any form
    # (the /login one included) is read.
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.middleware("http")(security_headers)
    app.add_middleware(Hsts)
    # Added last, so it runs first: the session is there for every handler above.
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.secret_key.get_secret_value(),
        session_cookie="leadflow_console",
        max_age=int(config.session_hours * 3600),
        same_site="lax",
        https_only=config.environment == "production",
    )
    app.add_middleware(HttpMetrics, service=config.service_name)
    return app
