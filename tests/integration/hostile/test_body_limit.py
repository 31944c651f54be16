"""Oversized bodies (issue 22, item 5) against real service processes: nurture (the largest
bodies a service takes: templates) and the console (its /login form), each sent without
any key. A body declared too large is answered 413 from its headers alone; a chunked one is
cut off soon after the limit while the client is still sending; neither is parsed or
authenticated first, and the service answers on as before: no 5xx, memory bounded."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from shared.net import free_port
from tests.integration.ingest_server import SECRET, IngestServer, service_server
from tests.integration.support import ROOT, terminate, wait_for

LIMIT = 256 * 1024  # LEADFLOW_MAX_BODY_BYTES for these servers
DETAIL = {"detail": "request body over 256 KiB (LEADFLOW_MAX_BODY_BYTES)"}
MiB = 1024 * 1024
PIECE = 64 * 1024


@pytest.fixture(scope="module")
async def nurture() -> AsyncIterator[IngestServer]:
    async with service_server("nurture", LEADFLOW_MAX_BODY_BYTES=str(LIMIT)) as server:
        yield server


def _spawn_console(port: int) -> tuple[subprocess.Popen[bytes], Path]:
    """`leadflow serve console`, its services nowhere (nothing here reaches them)."""
    nowhere = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "LEADFLOW_SECRET_KEY": SECRET,
        "LEADFLOW_MAX_BODY_BYTES": str(LIMIT),
        **{f"CONSOLE_{s}_URL": nowhere for s in ("INGEST", "SCORING", "NURTURE", "REPORTING")},
    }
    log = Path(tempfile.mkstemp(prefix="console-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "console", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def _alive(proc: subprocess.Popen[bytes], log: Path) -> None:
    assert proc.poll() is None, f"the console exited:\n{log.read_text()}"


@pytest.fixture(scope="module")
async def console() -> AsyncIterator[str]:
    port = free_port()
    proc, log = _spawn_console(port)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:

            async def answers() -> bool:
                _alive(proc, log)
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get("/healthz")).status_code == 200
                return False

            await wait_for(answers, within=60, what="the console to answer")
        yield url
    finally:
        await terminate(proc)
        log.unlink(missing_ok=True)


def _head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: leadflow", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunks(total: int) -> Iterator[bytes]:
    """A chunked JSON-ish body of `total` bytes, in 64 KiB chunks (the last one never sent
    when the server answers first)."""
    piece = b"%x\r\n%s\r\n" % (PIECE, b" " * PIECE)
    for _ in range(total // PIECE):
        yield piece
    yield b"0\r\n\r\n"


def _send(url: str, head: bytes, body: Iterator[bytes]) -> tuple[bytes, int, float]:
    """Send the head, then the body piece by piece until the server answers; the answer, the
    body bytes sent, the seconds until the answer. A plain blocking socket: the server may
    close while we still send, and what it answered must still be read."""
    host, port = url.removeprefix("http://").split(":")
    start = time.perf_counter()
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        for piece in body:
            if select.select([sock], [], [], 0)[0]:
                break  # answered already
            try:
                sock.sendall(piece)
            except OSError:
                break  # the server closed its side: the answer is waiting
            sent += len(piece)
        answer = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in answer or not _complete(answer):
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
    return answer, sent, time.perf_counter() - start


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def _body(answer: bytes) -> object:
    return orjson.loads(answer.partition(b"\r\n\r\n")[2])


async def _refused_both_ways(url: str, path: str, content_type: str) -> list[float]:
    """A 1 GiB declared body, then a 64 MiB chunked one; both 413 quickly. The seconds."""
    declared, sent, took_declared = await asyncio.to_thread(
        _send,
        url,
        _head(path, f"Content-Type: {content_type}", f"Content-Length: {1024 * MiB}"),
        iter(()),  # not one byte of the body: the headers are enough
    )
    assert _status(declared) == 413, declared[:300]
    assert _body(declared) == DETAIL
    assert b"connection: close" in declared.lower()

    chunked, sent, took_chunked = await asyncio.to_thread(
        _send,
        url,
        _head(path, f"Content-Type: {content_type}", "Transfer-Encoding: chunked"),
        _chunks(64 * MiB),
    )
    assert _status(chunked) == 413, chunked[:300]
    assert _body(chunked) == DETAIL
    # Cut off at the limit: what was sent past it is what the sockets' buffers held.
    assert LIMIT < sent < 16 * MiB, sent
    return [took_declared, took_chunked]


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


async def _server_errors(url: str) -> int:
    async with httpx.AsyncClient(base_url=url, follow_redirects=True) as client:
        text = (await client.get("/metrics")).text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("leadflow_http_requests_total{") and 'status="5' in line
    )


async def test_a_service_refuses_an_oversized_unauthenticated_body_before_parsing(
    nurture: IngestServer,
) -> None:
    before = _memory_kib(nurture.pid, "VmRSS")
    took = await _refused_both_ways(nurture.url, "/v1/templates", "application/json")
    assert max(took) < 5, took
    async with httpx.AsyncClient(base_url=nurture.url) as client:
        # Within the limit, the same request is read and refused for its missing key.
        small = await client.post("/v1/templates", json={"name": "t", "html": "x" * 1000})
        assert small.status_code == 401, small.text
        metrics = (await client.get("/metrics/")).text
    refused = {
        line.split('route="')[1].split('"')[0]
        for line in metrics.splitlines()
        if line.startswith("leadflow_http_requests_total{") and 'status="413"' in line
    }
    # Refused from its headers alone (before routing), and cut off as it streamed.
    assert refused == {"unmatched", "/v1/templates"}
    assert await _server_errors(nurture.url) == 0, nurture.log_text()[-3000:]
    assert _memory_kib(nurture.pid, "VmHWM") - before < 64 * 1024


async def test_the_consoles_login_form_is_refused_before_it_is_read(console: str) -> None:
    took = await _refused_both_ways(console, "/login", "application/x-www-form-urlencoded")
    assert max(took) < 5, took
    async with httpx.AsyncClient(base_url=console) as client:
        page = await client.get("/login")
        assert page.status_code == 200
        # Within the limit, the form is read and refused for its missing CSRF token.
        small = await client.post("/login", data={"api_key": "sk_x"})
        assert small.status_code == 403, small.text
    assert await _server_errors(console) == 0
