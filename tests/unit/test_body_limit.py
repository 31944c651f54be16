"""The request body limit every service has (shared/body_limit.py), at the ASGI level: a
declared Content-Length over the limit is refused before anything is read, a chunked body
is counted as it streams and cut off at the limit, in both cases before the app parses or
authenticates anything; bodies within the limit reach the app whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import orjson
import pytest
from fastapi import Depends, FastAPI, Request
from starlette.types import Message, Receive, Scope, Send

from services.console.main import create_app as create_console
from services.console.settings import ConsoleSettings
from services.reporting.main import create_app as create_reporting
from services.reporting.settings import ReportingSettings
from shared.body_limit import BodyLimit, BodyTooLarge, declared_length, describe
from shared.settings import BaseServiceSettings

LIMIT = 1000
DETAIL = "request body over 1000 bytes (LEADFLOW_MAX_BODY_BYTES)"


class Calls:
    """A fake server: the messages it hands the app, and what the app sent back."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.received = 0  # body messages handed over
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if not self.chunks:
            return {"type": "http.disconnect"}
        self.received += 1
        body = self.chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(self.chunks)}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def _scope(*headers: tuple[bytes, bytes], method: str = "POST", path: str = "/") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }


class Echo:
    """A bare ASGI app that reads the whole body and answers its length."""

    def __init__(self) -> None:
        self.called = False
        self.answered = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.answered = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


async def _call(app: Any, scope: Scope, chunks: list[bytes]) -> Calls:
    calls = Calls(chunks)
    await app(scope, calls.receive, calls.send)
    return calls


def _length(n: int) -> tuple[bytes, bytes]:
    return (b"content-length", str(n).encode())


CHUNKED = (b"transfer-encoding", b"chunked")


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    app = Echo()
    calls = await _call(BodyLimit(app, LIMIT), _scope(_length(LIMIT + 1)), [b"x" * (LIMIT + 1)])
    assert calls.status == 413
    assert orjson.loads(calls.body) == {"detail": DETAIL}
    assert calls.headers[b"content-type"] == b"application/json"
    assert calls.headers[b"connection"] == b"close"
    assert calls.received == 0  # not one byte of the body was asked for
    assert not app.called


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit() -> None:
    app = Echo()
    chunks = [b"x" * 300] * 100  # 30 kB, no Content-Length
    calls = await _call(BodyLimit(app, LIMIT), _scope(CHUNKED), chunks)
    assert calls.status == 413
    assert orjson.loads(calls.body) == {"detail": DETAIL}
    assert calls.received == 4  # 1200 bytes: over at the fourth chunk, the rest never read
    assert app.called
    assert not app.answered


async def test_a_body_without_any_length_header_is_counted_too() -> None:
    calls = await _call(BodyLimit(Echo(), LIMIT), _scope(), [b"x" * 600, b"x" * 600])
    assert calls.status == 413


@pytest.mark.parametrize(
    ("headers", "chunks"),
    [
        ((_length(LIMIT),), [b"x" * LIMIT]),  # exactly the limit
        ((CHUNKED,), [b"x" * 250] * 4),
        ((), [b""]),
        ((_length(0),), [b""]),
    ],
)
async def test_bodies_within_the_limit_reach_the_app_whole(
    headers: tuple[tuple[bytes, bytes], ...], chunks: list[bytes]
) -> None:
    calls = await _call(BodyLimit(Echo(), LIMIT), _scope(*headers), chunks)
    assert calls.status == 200
    assert calls.body == str(sum(map(len, chunks))).encode()


async def test_a_content_length_beside_chunked_does_not_count() -> None:
    """RFC 9112: Transfer-Encoding wins; a small Content-Length must not let a long chunked
    body through uncounted."""
    scope = _scope(_length(10), CHUNKED)
    calls = await _call(BodyLimit(Echo(), LIMIT), scope, [b"x" * 800, b"x" * 800])
    assert calls.status == 413


async def test_an_app_that_answers_the_cut_off_itself_is_overruled() -> None:
    async def catches(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            while (await receive()).get("more_body"):
                pass
        except BodyTooLarge:
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"bad body"})

    calls = await _call(BodyLimit(catches, LIMIT), _scope(CHUNKED), [b"x" * 600] * 3)
    assert calls.status == 413
    assert len(calls.sent) == 2
    assert orjson.loads(calls.body) == {"detail": DETAIL}


async def test_other_errors_of_the_app_are_its_own() -> None:
    async def fails(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await _call(BodyLimit(fails, LIMIT), _scope(_length(3)), [b"abc"])


async def test_lifespan_and_websockets_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    await BodyLimit(app, LIMIT)({"type": "lifespan"}, Calls([]).receive, Calls([]).send)
    assert seen == ["lifespan"]


def test_the_limit_is_named_in_its_own_unit() -> None:
    assert describe(1024 * 1024) == "1 MiB"
    assert describe(64 * 1024) == "64 KiB"
    assert describe(1000) == "1000 bytes"
    with pytest.raises(ValueError, match="positive"):
        BodyLimit(Echo(), 0)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((_length(12),), 12),
        ((), None),
        ((CHUNKED,), None),
        (((b"content-length", b"twelve"),), None),
    ],
)
def test_the_declared_length(
    headers: tuple[tuple[bytes, bytes], ...], expected: int | None
) -> None:
    assert declared_length(_scope(*headers)) == expected


# FastAPI: the body is cut off before it is parsed and before any dependency runs.


def authenticated(request: Request) -> str:
    request.app.state.ran.append("auth")
    return "ws"


Authenticated = Annotated[str, Depends(authenticated)]


def _fastapi(limit: int) -> tuple[FastAPI, list[str]]:
    ran: list[str] = []
    app = FastAPI()
    app.state.ran = ran

    @app.post("/v1/things")
    async def create(body: dict[str, Any], ws: Authenticated) -> Any:
        ran.append("handler")
        return {"keys": len(body)}

    app.add_middleware(BodyLimit, max_bytes=limit)
    return app, ran


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _big_json(size: int) -> bytes:
    return orjson.dumps({f"k{i}": "v" * 90 for i in range(size // 100)})


async def _stream(data: bytes, piece: int = 4096) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


async def test_fastapi_never_parses_nor_authenticates_an_oversized_body() -> None:
    app, ran = _fastapi(64 * 1024)
    big = _big_json(200 * 1024)
    async with _client(app) as client:
        declared = await client.post("/v1/things", content=big)
        chunked = await client.post("/v1/things", content=_stream(big))
        small = await client.post("/v1/things", json={"a": 1})
    assert declared.status_code == chunked.status_code == 413
    assert "transfer-encoding" not in declared.request.headers
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    assert declared.json() == {"detail": "request body over 64 KiB (LEADFLOW_MAX_BODY_BYTES)"}
    assert chunked.json() == declared.json()
    assert small.status_code == 200
    assert ran == ["auth", "handler"]  # the small one only


# Every service has it: create_service_app installs it, and the console's app.


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_MAX_BODY_BYTES", "2048")


def test_the_setting_has_a_documented_default_and_an_environment_name(
    small_limit: None,
) -> None:
    assert BaseServiceSettings.model_fields["max_body_bytes"].default == 1024 * 1024
    assert BaseServiceSettings().max_body_bytes == 2048


async def test_a_service_app_refuses_an_oversized_unauthenticated_body(small_limit: None) -> None:
    # No lifespan runs here (no database, no Kafka): the answer comes before any of it.
    app = create_reporting(ReportingSettings(log_json=False))
    body = orjson.dumps({"campaign": "x" * 5000, "start": "2026-01-01", "end": "2026-01-02"})
    async with _client(app) as client:
        declared = await client.post("/v1/campaign-costs", content=body)
        chunked = await client.post("/v1/campaign-costs", content=_stream(body, 512))
    for answer in (declared, chunked):
        assert answer.status_code == 413
        assert answer.json() == {"detail": "request body over 2 KiB (LEADFLOW_MAX_BODY_BYTES)"}


async def test_the_consoles_login_form_is_cut_off_before_it_is_read(small_limit: None) -> None:
    app = create_console(ConsoleSettings(log_json=False))
    form = b"api_key=" + b"k" * 5000
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with _client(app) as client:
        declared = await client.post("/login", content=form, headers=headers)
        chunked = await client.post("/login", content=_stream(form, 512), headers=headers)
    for answer in (declared, chunked):
        assert answer.status_code == 413
        assert answer.json() == {"detail": "request body over 2 KiB (LEADFLOW_MAX_BODY_BYTES)"}
        assert answer.headers["x-content-type-options"] == "nosniff"  # inside the headers
