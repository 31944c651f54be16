"""A real ingest service in a subprocess, on its own port and topics, for integration tests."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from shared.events import Envelope, Topics
from shared.net import free_port
from tests.integration.support import ROOT, read_events, terminate, wait_for

SECRET = "integration-test-secret"


@dataclass
class IngestServer:
    url: str
    topics: Topics
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None  # the server process (e.g. to read its RSS)
    pid: int = 0

    def run_cli(self, *args: str) -> str:
        """Run the `leadflow` command against this server's topics; its standard output."""
        out = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        # (What the command said on stderr is the first thing to read when it fails.)
        assert out.returncode == 0, (
            f"leadflow {' '.join(args)}: exit {out.returncode}\n{out.stderr}"
        )
        return out.stdout

    def leadflow(self, *args: str) -> Any:
        """Run the `leadflow` command against this server's topics; parse its --json output."""
        return json.loads(self.run_cli(*args, "--json"))

    async def knows(self, write_key: str) -> bool:
        """Has the service learnt of this write key yet (workspaces arrive through Kafka)?"""
        async with httpx.AsyncClient(base_url=self.url, auth=(write_key, "")) as client:
            return (await client.post("/v1/batch", json={"batch": []})).status_code == 200

    def log_text(self) -> str:
        return self.log.read_text()

    def create_workspace(self, *options: str) -> dict[str, Any]:
        return dict(self.leadflow("workspace", "create", f"test-{uuid.uuid4().hex[:6]}", *options))

    async def touchpoints(self, bootstrap: str, at_least: int = 1) -> list[Envelope]:
        found: list[Envelope] = []

        async def enough() -> bool:
            nonlocal found
            found = await read_events(bootstrap, self.topics.touchpoints)
            return len(found) >= at_least

        await wait_for(enough, within=30, what=f"{at_least} touchpoints")
        return found


@contextlib.asynccontextmanager
async def ingest_server(**settings: str) -> AsyncIterator[IngestServer]:
    """Start `leadflow serve ingest` with these environment settings; stop it afterwards."""
    async with service_server("ingest", **settings) as server:
        yield server


@contextlib.asynccontextmanager
async def service_server(
    service: str, prefix: str | None = None, port: int | None = None, **settings: str
) -> AsyncIterator[IngestServer]:
    """Start `leadflow serve SERVICE` on its own port (or `port`); `prefix` shares topics
    with another."""
    port = port or free_port()
    topics = Topics(prefix or f"t{uuid.uuid4().hex[:10]}")
    env = {
        **os.environ,
        "LEADFLOW_TOPIC_PREFIX": topics.prefix,
        "LEADFLOW_SECRET_KEY": SECRET,
        **settings,
    }
    proc, log = _spawn(service, port, env)
    server = IngestServer(f"http://127.0.0.1:{port}", topics, env, log, proc, proc.pid)
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:

            async def ready() -> bool:
                if proc.poll() is not None:
                    raise AssertionError(f"{service} exited:\n{server.log_text()}")
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(ready, within=60, what=f"{service} to be ready")
        yield server
    finally:
        await terminate(proc)
        _remove(log)


def _spawn(service: str, port: int, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    # As `make run` does: migrate first (a no-op when the schema is current).
    subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate", service], cwd=ROOT, env=env, check=True
    )
    log = Path(tempfile.mkstemp(prefix=f"{service}-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", service, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


class Stack(NamedTuple):
    ingest: IngestServer
    scoring: IngestServer
    reporting: IngestServer
    nurture: IngestServer


@contextlib.asynccontextmanager
async def four_services(smtp_port: int) -> AsyncIterator[Stack]:
    """Ingest, scoring, reporting and nurture on shared topics, nurture sending to the SMTP
    server on `smtp_port` and linking back to this ingest (its scheduler quick, for tests)."""
    nurture_port = free_port()
    async with (
        service_server("ingest") as ingest,
        service_server("scoring", prefix=ingest.topics.prefix) as scoring,
        service_server("reporting", prefix=ingest.topics.prefix) as reporting,
        service_server(
            "nurture",
            prefix=ingest.topics.prefix,
            port=nurture_port,
            NURTURE_SMTP_PORT=str(smtp_port),
            NURTURE_PUBLIC_URL=f"http://127.0.0.1:{nurture_port}",
            NURTURE_TRACKING_URL=ingest.url,
            NURTURE_SCHEDULER_EVERY_SECONDS="0.2",
        ) as nurture,
    ):
        yield Stack(ingest, scoring, reporting, nurture)
