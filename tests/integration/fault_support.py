"""Helpers of the fault-injection tests: sizes (quick in `make test`, full in `make soak`),
the figures each test measured, stopping and starting the test PostgreSQL and Kafka, fresh
databases, a process's memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import SERVICES
from shared.db import create_engine
from shared.db.migrations import upgrade
from tests.integration.support import ROOT, committed_offsets

# Every test's figures, printed again at the end of the run (conftest's terminal summary).
FIGURES: list[tuple[str, dict[str, Any]]] = []


def figures(test: str, **measured: Any) -> None:
    """Record and print what a fault test measured (events sent, lost, doubled, kills...)."""
    FIGURES.append((test, measured))
    print(f"\nFIGURES {test}: " + ", ".join(f"{k}={v}" for k, v in measured.items()))


@dataclass(frozen=True)
class Size:
    """How hard a fault test pushes: `quick` fits `make test`, `soak` is the issue's size."""

    name: str
    events: int
    kills: int
    outage_seconds: float = 0

    @property
    def timeout(self) -> int:
        return 3600 if self.name == "soak" else 300


def sizes(quick: Size, soak: Size) -> list[Any]:
    """The two sizes as pytest params; the full one carries the `soak` marker."""
    return [
        pytest.param(quick, id="quick"),
        pytest.param(soak, id="soak", marks=[pytest.mark.soak, pytest.mark.timeout(soak.timeout)]),
    ]


# --- the servers ------------------------------------------------------------------------------


def _server_env() -> dict[str, str]:
    """deploy/local's scripts manage the local servers only when these are not set."""
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return env


def require_local_servers(*, postgres: bool = True) -> None:
    """Tests that stop or pause the servers need the throwaway ones `make test` started
    (deploy/local/with-test-infra.sh): servers given from outside are not ours to stop. Such
    a test fails here rather than skip (a skip would pass a run that tested nothing); it
    carries the `local_servers` marker, so a run against external servers deselects it
    openly with `-m "not local_servers"`."""
    home = Path(os.environ.get("LEADFLOW_HOME") or "/nonexistent")
    hint = (
        "This test stops or pauses the test servers, so it needs the throwaway ones that "
        "`make test` (deploy/local/with-test-infra.sh) starts: run it that way, with "
        "DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS unset. Against servers of your own, "
        'deselect it with -m "not local_servers".'
    )
    if postgres and not (home / "postgres" / "PG_VERSION").exists():
        pytest.fail(f"no local test PostgreSQL in {home}. {hint}", pytrace=False)
    if not (home / "kafka.pid").exists():
        pytest.fail(f"no local test Kafka in {home} (no kafka.pid). {hint}", pytrace=False)


def local_kafka_pid() -> int:
    """The process id of the test Kafka broker `make test` started (to pause or stop it)."""
    require_local_servers(postgres=False)
    return int((Path(os.environ["LEADFLOW_HOME"]) / "kafka.pid").read_text())


async def server(name: str, action: str, within: float = 150) -> int:
    """`deploy/local/<name>.sh <action>` (postgres|kafka, start|stop), waiting for it; how
    many tries it took.

    A start is tried again while it fails, up to `within` seconds: the test ports lie in
    Linux's ephemeral range, so a client reconnecting in a loop while the server is away
    can connect to itself on the server's port (seen here: 127.0.0.1:59106 ->
    127.0.0.1:59106), which holds the port until that connection times out and the bind
    fails meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    tries = 0
    while True:
        tries += 1
        try:
            await _run_script(name, action)
            return tries
        except AssertionError:
            if action != "start" or loop.time() > deadline:
                raise
            await asyncio.sleep(3)


async def _run_script(name: str, action: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / "deploy" / "local" / f"{name}.sh"),
        action,
        cwd=ROOT,
        env=_server_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        ss = await asyncio.create_subprocess_exec(
            "ss", "-tan", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        sockets = (await ss.communicate())[0].decode()
        port = os.environ.get("LEADFLOW_KAFKA_PORT" if name == "kafka" else "LEADFLOW_PG_PORT")
        held = "\n".join(line for line in sockets.splitlines() if f":{port} " in line)
        raise AssertionError(
            f"{name}.sh {action} failed:\n{out.decode(errors='replace')}\nport {port}:\n{held}"
        )


@contextlib.asynccontextmanager
async def fresh_database(database_url: str, service: str) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A new, empty database with `service`'s schema migrated in; dropped afterwards."""
    name = f"fault_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url, pool_size=1)
    async with admin.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'create database "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(False)
    await upgrade(SERVICES[service].migrations, database_url=url, schema=service)
    engine = create_engine(url, pool_size=4)
    try:
        yield url, engine
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'drop database "{name}" with (force)'))
        await admin.dispose()


async def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """A group's committed offsets, asked again while Kafka answers with a retriable error
    (a fresh broker has no group coordinator for its first seconds)."""
    for _ in range(60):
        try:
            return await committed_offsets(bootstrap, group)
        except KafkaError as exc:
            if not exc.retriable:
                raise
            await asyncio.sleep(0.5)
    return await committed_offsets(bootstrap, group)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")
