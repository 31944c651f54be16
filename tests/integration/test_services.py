"""Every service migrates, starts, and answers /healthz, /readyz and /metrics."""

from __future__ import annotations

import signal

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import SERVICES
from shared.db.migrations import upgrade
from shared.net import free_port
from tests.integration.support import spawn, terminate, wait_exit, wait_for

# The console keeps no state (no schema, no Kafka): tests/e2e/test_console.py covers it.
WITH_DATABASE = {name: info for name, info in SERVICES.items() if info.uses_database}


async def test_migrations_create_each_schema_and_are_harmless_twice(
    database_url: str, engine: AsyncEngine
) -> None:
    # Two `leadflow migrate` at once: the advisory lock makes one wait, then find nothing to do.
    procs = [spawn("services.cli", "migrate") for _ in range(2)]
    assert [await wait_exit(p) for p in procs] == [0, 0]
    for info in WITH_DATABASE.values():
        await upgrade(info.migrations, database_url=database_url, schema=info.name)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "select table_schema, table_name from information_schema.tables "
                    "where table_name in ('inbox', 'outbox', 'alembic_version')"
                )
            )
        ).all()
    for name in WITH_DATABASE:
        assert {(name, "inbox"), (name, "outbox"), (name, "alembic_version")} <= set(
            map(tuple, rows)
        )


@pytest.mark.parametrize("service", list(WITH_DATABASE))
async def test_service_starts_and_reports_health(service: str, database_url: str) -> None:
    info = SERVICES[service]
    await upgrade(info.migrations, database_url=database_url, schema=service)
    port = free_port()
    proc = spawn("services.cli", "serve", service, "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            await wait_for(
                lambda: _answers(client), within=60, what=f"{service} to answer /healthz"
            )
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert health.json() == {"status": "ok", "service": service}
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert {checks["database"], checks["kafka"]} == {"ok"}
            assert set(checks.values()) == {"ok"}  # and whatever the service adds
            metrics = await client.get("/metrics/")
            assert metrics.status_code == 200
            assert "process_cpu_seconds_total" in metrics.text
    finally:
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit says why it ended.
        assert await terminate(proc) in (0, -signal.SIGTERM)


async def _answers(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False
