"""The console's home, liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.console.adapters.client import SERVICES, health
from services.console.api.deps import Config, Http
from services.console.domain.navigation import HOME

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home() -> Response:
    return RedirectResponse(HOME, 303)


@router.get("/healthz")
async def healthz(settings: Config) -> dict[str, str]:
    return {"status": "ok", "service": settings.service_name}


@router.get("/readyz")
async def readyz(http: Http, settings: Config) -> Response:
    """Ready when every service the pages are built from answers /healthz."""
    answers = await asyncio.gather(*(health(http, settings, s) for s in SERVICES))
    checks = dict(zip(SERVICES, answers, strict=True))
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    return JSONResponse(body, 200 if ok else 503)
