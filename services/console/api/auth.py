"""Sign in with a workspace's API key, and sign out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console.adapters.client import Api, ApiError, Unreachable
from services.console.api.deps import Config, Form, Http
from services.console.api.web import FORM_AGAIN, render
from services.console.domain.navigation import HOME, ingest_unreachable, key_refused, safe_next

router = APIRouter()


@router.get("/login")
async def login_page(request: Request, next: str = HOME) -> Response:
    if request.session.get("api_key"):
        return RedirectResponse(safe_next(next), 303)
    return render(request, "login.html", next=safe_next(next), error=None)


@router.post("/login")
async def login(request: Request, form: Form, http: Http, settings: Config) -> Response:
    key = (form.get("api_key") or "").strip()
    target = safe_next(form.get("next"))
    if not key:
        error = "Enter your workspace's API key (it starts with sk_)."
        return render(request, "login.html", FORM_AGAIN, next=target, error=error)
    try:
        name = await Api(http, settings, key).workspace_name()
    except ApiError as exc:
        error = key_refused(exc.status, exc.message)
        return render(request, "login.html", FORM_AGAIN, next=target, error=error)
    except Unreachable as exc:
        error = ingest_unreachable(exc.url)
        return render(request, "login.html", FORM_AGAIN, next=target, error=error)
    # A fresh session on sign-in: nothing from before (CSRF token included) carries over.
    request.session.clear()
    request.session.update({"api_key": key, "workspace_name": name})
    return RedirectResponse(target, 303)


@router.post("/logout")
async def logout(request: Request, form: Form) -> Response:
    request.session.clear()
    return RedirectResponse("/login", 303)
