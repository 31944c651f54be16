"""HTTP Strict Transport Security for every service, as a bare ASGI middleware.

A response to a request that came over https says so for a year (`Strict-Transport-Security`),
so a browser that once reached LeadFlow over https never again sends its session cookie or a
signed link over plain http to the same host. Whether a request came over https is the ASGI
scope's scheme: https on a TLS listener, or a trusted proxy's `X-Forwarded-Proto: https`
(uvicorn rewrites the scheme only for the addresses in LEADFLOW_TRUSTED_PROXIES). Plain http
answers carry no HSTS: browsers ignore it there, and a laptop on http://127.0.0.1 must not be
pinned to https. No `includeSubDomains`: other hosts under the same domain are not ours.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS_HEADER = "strict-transport-security"
HSTS_VALUE = "max-age=31536000"  # one year, the usual preload-list minimum


def over_https(scope: Scope) -> bool:
    return scope.get("scheme") == "https"


class Hsts:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not over_https(scope):
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault(HSTS_HEADER, HSTS_VALUE)
            await send(message)

        await self.app(scope, receive, send_with_hsts)
