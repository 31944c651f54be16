"""Sign in with a workspace's API key, and sign out."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import ImmutableMultiDict

from services.console.client import Api, ApiError, Unreachable
from services.console.web import FORM_AGAIN, checked_form, render, safe_next

router = APIRouter()
Form = Annotated[ImmutableMultiDict[str, str], Depends(checked_form)]


async def workspace_of_key(http: httpx.AsyncClient, request: Request, key: str) -> str:
    """The workspace's name if ingest accepts the key as an API key (ApiError otherwise)."""
    found = await Api(http, request.app.state.settings, key).get("ingest", "/v1/workspace")
    return str(found["name"])


@router.get("/login")
async def login_page(request: Request, next: str = "/leads") -> Response:
    if request.session.get("api_key"):
        return RedirectResponse(safe_next(next), 303)
    return render(request, "login.html", next=safe_next(next), error=None)


@router.post("/login")
async def login(request: Request, form: Form) -> Response:
    key = (form.get("api_key") or "").strip()
    target = safe_next(form.get("next"))
    error = None
    if not key:
        error = "Enter your workspace's API key (it starts with sk_)."
    else:
        try:
            name = await workspace_of_key(request.app.state.http, request, key)
        except ApiError as exc:
            error = (
                "That key was not accepted: " + exc.message
                if exc.status in (401, 403)
                else f"LeadFlow could not check the key ({exc.status}): {exc.message}"
            )
        except Unreachable as exc:
            error = f"LeadFlow's ingest service does not answer at {exc.url}; is it running?"
    if error:
        return render(request, "login.html", FORM_AGAIN, next=target, error=error)
    # A fresh session on sign-in: nothing from before (CSRF token included) carries over.
    request.session.clear()
    request.session.update({"api_key": key, "workspace_name": name})
    return RedirectResponse(target, 303)


@router.post("/logout")
async def logout(request: Request, form: Form) -> Response:
    request.session.clear()
    return RedirectResponse("/login", 303)
