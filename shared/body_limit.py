"""A cap on request bodies, for every service, enforced before the app reads or parses one.

FastAPI reads and parses a JSON body (and Starlette a form) before any dependency runs, the
API key check included, so without a cap anyone who can reach a port could make a service
buffer and parse as much as they send. This bare ASGI middleware answers 413, naming the
limit and its setting, as soon as a request is known to be too large: at once when its
Content-Length says so (the body is never read; with `Expect: 100-continue` it is never
even sent), else as the body streams in (chunked), counting bytes on the wire.

Bare ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task and a stream per
request; here a request within the limit costs one look through its headers and one small
function wrapped around `receive`."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SETTING = "LEADFLOW_MAX_BODY_BYTES"


class BodyTooLarge(Exception):
    """Raised from `receive` once the body passed the limit; the middleware answers 413."""


def describe(max_bytes: int) -> str:
    """1048576 -> "1 MiB", 65536 -> "64 KiB", 1000 -> "1000 bytes"."""
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if max_bytes % size == 0:
            return f"{max_bytes // size} {unit}"
    return f"{max_bytes} bytes"


def declared_length(scope: Scope) -> int | None:
    """The Content-Length of a request, None when it has none (or a chunked body)."""
    length = None
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return None  # chunked: a Content-Length beside it does not count (RFC 9112 6.3)
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None  # the server refuses it; the stream is counted anyway
    return length


class BodyLimit:
    """ASGI middleware: requests whose body is over `max_bytes` are answered 413."""

    def __init__(self, app: ASGIApp, max_bytes: int, setting: str = SETTING) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.app = app
        self.max_bytes = max_bytes
        self.answer = orjson.dumps(
            {"detail": f"request body over {describe(max_bytes)} ({setting})"}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and length > self.max_bytes:
            await self.refuse(send)
            return
        received = 0
        over = False
        started = False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    raise BodyTooLarge(f"request body over {self.max_bytes} bytes")
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:
                return  # the app's own answer to a body it could not finish: ours goes out
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            # An app may let BodyTooLarge out, or turn it into an error of its own (FastAPI
            # makes it a 400 "error parsing the body"): either way the answer is ours.
            if not over or started:
                raise
        if over and not started:
            await self.refuse(send)

    async def refuse(self, send: Send) -> None:
        """413 with the limit named; the connection is closed after it, so a client still
        sending does not keep the server reading a body nobody wants."""
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self.answer)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.answer})
