"""Rendering the console's pages: the session's CSRF token, messages shown once, and the
Jinja templates."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
# A form shown again with its problems next to the fields is a page that worked: 200, as
# browsers log every 4xx document as a console error (and the form is the answer asked for).
FORM_AGAIN = 200


def csrf_token(request: Request) -> str:
    """The session's token, made on first use; every form carries it back."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


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
