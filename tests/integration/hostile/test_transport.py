"""HSTS from a real `leadflow serve` process (issue 22, item 10d): a request a trusted proxy
marks https (`X-Forwarded-Proto`) is answered with Strict-Transport-Security; the same header
from an address that is not a trusted proxy is ignored, as is plain http."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.net import free_port
from tests.integration.support import ROOT, terminate, wait_for

HTTPS = {"X-Forwarded-Proto": "https"}


def _spawn(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "console", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextlib.asynccontextmanager
async def console(**env: str) -> AsyncIterator[httpx.AsyncClient]:
    """The console (it needs no database) on 127.0.0.1, and a client for it."""
    port = free_port()
    proc = _spawn(port, env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def up() -> bool:
                assert proc.poll() is None, "the console exited"
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(up, within=60, what="the console")
            yield client
    finally:
        await terminate(proc)


@pytest.mark.parametrize("path", ["/healthz", "/login"])
async def test_https_through_a_trusted_proxy_gets_hsts(path: str) -> None:
    async with console() as client:  # the default: a proxy on this machine is trusted
        https = await client.get(path, headers=HTTPS)
        http = await client.get(path)
    assert https.headers["strict-transport-security"] == "max-age=31536000"
    assert "strict-transport-security" not in http.headers


async def test_x_forwarded_proto_from_an_untrusted_address_is_ignored() -> None:
    async with console(LEADFLOW_TRUSTED_PROXIES="203.0.113.9") as client:
        answer = await client.get("/login", headers=HTTPS)
    assert "strict-transport-security" not in answer.headers
