"""Typed dependencies of the console's pages: the HTTP client and settings the lifespan
built, the signed-in workspace's view of the services, and a form whose CSRF token matched."""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import parse_qsl

import httpx
from fastapi import Depends, HTTPException, Request
from starlette.datastructures import ImmutableMultiDict

from services.console.adapters.client import Api
from services.console.settings import ConsoleSettings
from shared.deps import app_state

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

Http = Annotated[httpx.AsyncClient, Depends(app_state("http", httpx.AsyncClient))]
Config = Annotated[ConsoleSettings, Depends(app_state("settings", ConsoleSettings))]


class SignInRequired(Exception):
    """No workspace key in the session: the handler sends the browser to /login."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


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
    """FastAPI dependency of every POST: the form, once its CSRF token matched (else 403).
    A form over LEADFLOW_MAX_BODY_BYTES never gets here: the app's body limit
    (shared/body_limit.py) answered 413 while it streamed in."""
    form = parse_form(await request.body())
    presented = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not csrf_ok(request.session.get("csrf"), presented):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return form


def api(request: Request, http: Http, settings: Config) -> Api:
    """The services, as the signed-in workspace (SignInRequired when nobody is)."""
    key = request.session.get("api_key")
    if not isinstance(key, str):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return Api(http, settings, key)


# A route's first parameter when it takes a form, so a forged POST is refused first.
Form = Annotated[ImmutableMultiDict[str, str], Depends(checked_form)]
Client = Annotated[Api, Depends(api)]
