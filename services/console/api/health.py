"""The console's home, liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.console.adapters.client import SERVICES, health
from services.console.api.deps import Config, Http
from services.console.domain.navigation import HOME
from shared.readiness import public_readiness

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home() -> Response:
    return RedirectResponse(HOME, 303)


@router.get("/healthz")
async def healthz(settings: Config) -> dict[str, str]:
    return {"status": "ok", "service": settings.service_name}


@router.get("/readyz")
async def readyz(http: Http, settings: Config) -> Response:
    """Ready when every service the pages are built from answers /healthz (why not is
    logged, not shown)."""
    answers = await asyncio.gather(*(health(http, settings, s) for s in SERVICES))
    body, status = public_readiness(dict(zip(SERVICES, answers, strict=True)))
    return JSONResponse(body, status)
