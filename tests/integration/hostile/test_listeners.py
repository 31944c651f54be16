"""The public development secret is refused on any address others can reach (issue 22,
item 2): each service, started as `leadflow serve` bound to 0.0.0.0 with the default secret,
exits with an error naming LEADFLOW_SECRET_KEY before it listens; on 127.0.0.1 it starts."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from services.registry import SERVICES
from shared.net import free_port
from shared.settings import DEV_SECRET
from tests.integration.ingest_server import service_server
from tests.integration.support import ROOT, terminate, wait_for


def _without_secret(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LEADFLOW_SECRET_KEY", "LEADFLOW_HOST")}
    return {**env, **extra}


def _serve(service: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "serve", service, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except httpx.TransportError:
        return False
    return True


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize("environment", ["development", "test"])
def test_every_service_refuses_the_development_secret_on_0_0_0_0(
    service: str, environment: str
) -> None:
    port = free_port()
    out = _serve(
        service,
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        env=_without_secret(LEADFLOW_ENV=environment),
    )
    assert out.returncode == 2, out.stderr
    assert f"leadflow serve {service}: refusing to start" in out.stderr
    assert "LEADFLOW_SECRET_KEY must be set" in out.stderr
    assert "0.0.0.0" in out.stderr
    assert not _listening(port)


def test_the_host_setting_is_checked_like_the_option() -> None:
    """The Docker image sets LEADFLOW_HOST=0.0.0.0 rather than passing --host."""
    port = free_port()
    out = _serve("ingest", "--port", str(port), env=_without_secret(LEADFLOW_HOST="0.0.0.0"))
    assert out.returncode == 2, out.stderr
    assert "LEADFLOW_SECRET_KEY must be set" in out.stderr
    assert not _listening(port)


def _console(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "console", "--port", str(port)],
        cwd=ROOT,
        env=_without_secret(LEADFLOW_ENV="development"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_on_loopback_the_development_secret_is_still_accepted() -> None:
    """A laptop needs nothing set: the console (no database) on 127.0.0.1 answers."""
    port = free_port()
    proc = _console(port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def answers() -> bool:
                assert proc.poll() is None, "the console exited"
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(answers, within=60, what="the console on 127.0.0.1")
    finally:
        await terminate(proc)


async def test_a_service_with_its_dependencies_starts_on_loopback_with_it() -> None:
    async with (
        service_server("ingest", LEADFLOW_SECRET_KEY=DEV_SECRET) as ingest,
        httpx.AsyncClient(base_url=ingest.url) as client,
    ):
        assert (await client.get("/readyz")).status_code == 200
