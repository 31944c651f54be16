"""Hostile input against a real ingest server (its own process, real Kafka): oversize events
and batches, lying Content-Length, chunked bodies, a gzip bomb, invalid JSON, bytes that are
not UTF-8, deeply nested JSON, and one workspace sending ten times its rate limit while
another keeps sending. Each gets its stated 4xx; no 5xx anywhere (answers and the server's
own request metrics); the server's peak memory stays bounded."""

from __future__ import annotations

import asyncio
import gzip
import statistics
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.integration.ingest_server import IngestServer, ingest_server

RATE = 100  # events per second per workspace, for this server
MiB = 1024 * 1024


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[IngestServer]:
    async with ingest_server(INGEST_RATE_LIMIT=f"{RATE}/second") as server:
        yield server


def _memory_kib(server: IngestServer, field: str) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{server.proc.pid}/status")


async def _raw(server: IngestServer, request: bytes, *, half_close: bool = False) -> bytes:
    """Send bytes as they are on a fresh connection; whatever comes back within 5 s."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        if half_close:
            writer.write_eof()
        try:
            return await asyncio.wait_for(reader.read(65536), timeout=5)
        except TimeoutError:
            return b""
    finally:
        writer.close()


def _status(answer: bytes) -> int | None:
    """The status of the first response in `answer` (None: no response)."""
    if not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer.split(b" ", 2)[1])


def _post(key: str, body: bytes, *headers: str, length: int | None = None) -> bytes:
    import base64

    auth = base64.b64encode(f"{key}:".encode()).decode()
    lines = [
        "POST /v1/track HTTP/1.1",
        "Host: ingest",
        f"Authorization: Basic {auth}",
        "Content-Type: application/json",
        *headers,
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _chunked(body: bytes, size: int) -> bytes:
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def _gzip_bomb(decompressed: int) -> bytes:
    """`decompressed` bytes of JSON whitespace, gzipped (about 1,000 times smaller)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [packer.compress(b'{"batch": [')]
    block = b" " * MiB
    for _ in range(decompressed // MiB):
        out.append(packer.compress(block))
    out.append(packer.compress(b"]}") + packer.flush())
    return b"".join(out)


async def _server_errors(server: IngestServer) -> int:
    """5xx answers the server counted itself (also those a client never saw)."""
    async with httpx.AsyncClient(base_url=server.url, follow_redirects=True) as client:
        text = (await client.get("/metrics")).text
    total = 0
    for line in text.splitlines():
        if line.startswith("leadflow_http_requests_total{") and 'status="5' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


async def test_hostile_bodies_get_their_4xx_and_memory_stays_bounded(
    server: IngestServer,
) -> None:
    workspace = server.create_workspace()
    key = workspace["write_key"]
    good = orjson.dumps({"userId": "u-1", "event": "Clicked"})
    baseline_kib = _memory_kib(server, "VmRSS")
    statuses: Counter[int | None] = Counter()

    async def expect(name: str, request: bytes, wanted: set[int | None], **kw: bool) -> None:
        status = _status(await _raw(server, request, **kw))
        statuses[status] += 1
        assert status in wanted, f"{name}: {status}, expected {wanted}"

    async with httpx.AsyncClient(base_url=server.url, auth=(key, "")) as client:

        async def post(name: str, path: str, wanted: int, **kw: object) -> None:
            response = await client.post(path, **kw)  # type: ignore[arg-type]
            statuses[response.status_code] += 1
            assert response.status_code == wanted, f"{name}: {response.text[:300]}"

        big = {"userId": "u-1", "event": "Big", "properties": {"blob": "x" * 40_000}}
        await post("oversize event", "/v1/track", 413, json=big)
        many = {"batch": [{"type": "track", "userId": "u", "event": "e"}] * 2501}
        await post("2,501 events in a batch", "/v1/batch", 413, json=many)
        heavy = {"batch": [{"type": "track", "userId": "u", "event": "x" * 30_000}] * 20}
        await post("a 600 KB request", "/v1/batch", 413, json=heavy)
        await post("invalid JSON", "/v1/track", 400, content=b'{"userId": "u", ')
        await post("not UTF-8", "/v1/track", 400, content=b'{"userId": "\xff\xfe\xfd"}')
        await post("NUL in a string", "/v1/track", 400, json={"userId": "u\x00", "event": "e"})
        deep = b'{"userId": "u", "event": "e", "properties": {"a": ' + b"[" * 200_000
        await post("deeply nested JSON", "/v1/track", 400, content=deep + b"]" * 200_000 + b"}")
        await post("empty body", "/v1/track", 400, content=b"")
        await post(
            "unknown encoding", "/v1/track", 415, content=good, headers={"Content-Encoding": "br"}
        )
        await post(
            "truncated gzip",
            "/v1/track",
            400,
            content=gzip.compress(good)[:-8],
            headers={"Content-Encoding": "gzip"},
        )
        bomb = _gzip_bomb(1024 * MiB)
        await post(
            "1 GiB gzip bomb", "/v1/batch", 413, content=bomb, headers={"Content-Encoding": "gzip"}
        )
        await post("the good event", "/v1/track", 200, content=good)

    # Lying Content-Length: shorter than the body (the rest is not a request) and longer (the
    # client stops sending): a 400, or the connection closed, never a 5xx.
    await expect("Content-Length shorter", _post(key, good, length=10), {400})
    await expect(
        "Content-Length longer", _post(key, good, length=10_000), {None, 400}, half_close=True
    )
    await expect("Content-Length not a number", _post(key, good, "Content-Length: ten"), {400})
    await expect("chunked", _post(key, _chunked(good, 7), "Transfer-Encoding: chunked"), {200})
    oversize = orjson.dumps(
        {"batch": [{"type": "track", "userId": "u", "event": "x" * 1000}] * 600}
    )
    await expect(
        "chunked, 600 KB",
        _post(key, _chunked(oversize, 65536), "Transfer-Encoding: chunked"),
        {413},
    )
    await expect(
        "chunked, bad framing",
        _post(key, b"zz\r\nnope\r\n", "Transfer-Encoding: chunked"),
        {400, None},
        half_close=True,
    )

    peak_kib = _memory_kib(server, "VmHWM")
    tried = sum(statuses.values())
    print(
        f"ingest hostile bodies: {tried} requests, statuses {dict(statuses)}, RSS "
        f"{baseline_kib // 1024} MiB before, peak {peak_kib // 1024} MiB"
    )
    assert not [s for s in statuses if s is not None and s >= 500]
    errors = [line for line in server.log_text().splitlines() if '"ERROR"' in line]
    assert await _server_errors(server) == 0, errors
    assert peak_kib - baseline_kib < 150 * 1024  # the 1 GiB bomb was cut off as it streamed


async def test_a_flooding_workspace_is_limited_and_does_not_slow_another(
    server: IngestServer,
) -> None:
    flooder = server.create_workspace()["write_key"]
    quiet = server.create_workspace()["write_key"]
    event = {"userId": "u-1", "event": "Clicked"}
    flood_statuses: Counter[int] = Counter()
    quiet_statuses: Counter[int] = Counter()
    async with (
        httpx.AsyncClient(base_url=server.url, auth=(flooder, "")) as flood_client,
        httpx.AsyncClient(base_url=server.url, auth=(quiet, "")) as quiet_client,
    ):

        async def quiet_latencies(n: int) -> list[float]:
            took = []
            for _ in range(n):
                start = time.perf_counter()
                response = await quiet_client.post("/v1/track", json=event)
                took.append(time.perf_counter() - start)
                quiet_statuses[response.status_code] += 1
                await asyncio.sleep(0.05)  # 20 events/s: well inside its own limit
            return took

        before = await quiet_latencies(40)
        stop = asyncio.Event()
        retry_after: set[str] = set()
        accepted = 0

        async def flood() -> None:
            # Ten times the rate or more: three senders of 50-event batches, each up to 20 a second.
            nonlocal accepted
            batch = {"batch": [{"type": "track", **event}] * 50}
            while not stop.is_set():
                response = await flood_client.post("/v1/batch", json=batch)
                flood_statuses[response.status_code] += 1
                if response.status_code == 429:
                    retry_after.add(response.headers.get("Retry-After", ""))
                elif response.status_code == 200:
                    accepted += 50
                await asyncio.sleep(0.05)

        started = time.perf_counter()
        flooders = [asyncio.create_task(flood()) for _ in range(3)]
        during = await quiet_latencies(40)
        stop.set()
        await asyncio.gather(*flooders)
        seconds = time.perf_counter() - started

    sent = sum(flood_statuses.values()) * 50
    print(
        f"rate limit: flooder sent {sent} events in {seconds:.1f} s "
        f"({sent / seconds:.0f}/s against {RATE}/s), accepted {accepted}, "
        f"statuses {dict(flood_statuses)}; the other workspace {dict(quiet_statuses)}, median "
        f"{statistics.median(before) * 1000:.1f} ms before, "
        f"{statistics.median(during) * 1000:.1f} ms during"
    )
    assert sent / seconds > 5 * RATE  # it really flooded
    assert flood_statuses[429] > 0
    assert retry_after
    assert all(v.isdigit() and int(v) >= 1 for v in retry_after)
    # A fixed window lets at most two windows' worth through at a boundary.
    assert accepted <= RATE * (seconds + 2) * 2
    assert set(quiet_statuses) == {200}
    # Not slowed noticeably: a generous factor on medians (two shared cores), no absolute time.
    assert statistics.median(during) < 10 * statistics.median(before)
    assert await _server_errors(server) == 0
