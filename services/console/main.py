"""Wiring of the console; run it with `leadflow serve console`.

It keeps no state of its own: the session cookie (signed with LEADFLOW_SECRET_KEY) holds the
workspace's API key, and every page is built from the services' APIs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import make_asgi_app
from starlette.middleware.sessions import SessionMiddleware

from services.console import (
    auth_pages,
    funnel_pages,
    lead_pages,
    sequence_pages,
    settings_pages,
    template_pages,
)
from services.console.client import ApiError, Unreachable
from services.console.settings import ConsoleSettings
from services.console.web import SignInRequired, login_url, render
from shared.http_metrics import HttpMetrics
from shared.logging import configure_logging

STATIC = Path(__file__).parent / "static"
PAGES = (auth_pages, lead_pages, sequence_pages, template_pages, funnel_pages, settings_pages)
# Everything the pages use comes from the console itself (the machine may have no internet).
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level, settings.log_json)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per API call
        async with httpx.AsyncClient(timeout=settings.api_timeout_seconds) as http:
            app.state.http = http
            yield

    app = FastAPI(title="LeadFlow console", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    for module in PAGES:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/metrics", make_asgi_app())

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/leads", 303)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        """Ready when every service the pages are built from answers /healthz."""
        checks = {}
        for service in ("ingest", "scoring", "nurture", "reporting"):
            url = settings.base_url(service) + "/healthz"
            try:
                answer = await app.state.http.get(url, timeout=2)
                checks[service] = "ok" if answer.status_code == 200 else f"{answer.status_code}"
            except httpx.TransportError as exc:
                checks[service] = f"unavailable: {exc!r}"
        ok = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if ok else "unavailable", "checks": checks}
        return JSONResponse(body, 200 if ok else 503)

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(login_url(exc.next_path), 303)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if exc.status == 401:
            # The key was rotated or revoked elsewhere: sign in again.
            request.session.clear()
            return RedirectResponse(login_url(request.url.path), 303)
        status = exc.status if exc.status < 500 else 502
        return render(
            request,
            "error.html",
            status,
            title="Not found" if exc.status == 404 else "Something went wrong",
            message=f"{exc.service} said: {exc.message}",
        )

    @app.exception_handler(Unreachable)
    async def unreachable(request: Request, exc: Unreachable) -> Response:
        return render(
            request,
            "error.html",
            503,
            title="A LeadFlow service is not answering",
            message=f"The {exc.service} service does not answer at {exc.url}. "
            "Is it running (make run)?",
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return render(
            request, "error.html", exc.status_code, title="Sorry", message=str(exc.detail)
        )

    @app.middleware("http")
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

    # Added last, so it runs first: the session is there for every handler above.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie="leadflow_console",
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=settings.environment == "production",
    )
    app.add_middleware(HttpMetrics, service=settings.service_name)
    return app
