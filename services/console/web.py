"""Request plumbing shared by the console's pages: the session, CSRF, form bodies, the API
client of the signed-in workspace, and rendering."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import ImmutableMultiDict

from services.console.client import Api

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
MAX_FORM_BYTES = 1_000_000
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# A form shown again with its problems next to the fields is a page that worked: 200, as
# browsers log every 4xx document as a console error (and the form is the answer asked for).
FORM_AGAIN = 200


class SignInRequired(Exception):
    """No workspace key in the session: the handler sends the browser to /login."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def csrf_token(request: Request) -> str:
    """The session's token, made on first use; every form carries it back."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(expected: str | None, presented: str | None) -> bool:
    return bool(expected and presented and hmac.compare_digest(expected, presented))


def parse_form(body: bytes) -> ImmutableMultiDict[str, str]:
    """An application/x-www-form-urlencoded body (the only kind the console's forms send)."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise HTTPException(400, "the form is not UTF-8") from None
    return ImmutableMultiDict(parse_qsl(text, keep_blank_values=True))


async def checked_form(request: Request) -> ImmutableMultiDict[str, str]:
    """FastAPI dependency of every POST: the form, once its CSRF token matched (else 403)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    form = parse_form(body)
    presented = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not csrf_ok(request.session.get("csrf"), presented):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return form


def api(request: Request) -> Api:
    """FastAPI dependency: the services, as the signed-in workspace."""
    key = request.session.get("api_key")
    if not isinstance(key, str):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return Api(request.app.state.http, request.app.state.settings, key)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message shown once, on the next page."""
    request.session.setdefault("flash", []).append([kind, message])


def render(request: Request, page: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    messages = request.session.pop("flash", [])
    return TEMPLATES.TemplateResponse(
        request,
        page,
        {
            "csrf": csrf_token(request),
            "workspace_name": request.session.get("workspace_name"),
            "messages": messages,
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )


def safe_next(target: str | None) -> str:
    """Only paths of this site after sign-in (no open redirect to another host)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/leads"
    return target


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="")
