"""Fixtures for tests against the real PostgreSQL and Kafka that `make test` starts."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.bus import ensure_topics
from shared.db import create_engine
from shared.events import Topics
from tests.integration.fault_support import FIGURES
from tests.integration.smtp_support import Recorder, running_smtp
from tests.integration.support import TestSchema


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What the fault tests measured, whether or not their output was captured."""
    if FIGURES:
        terminalreporter.section("fault-test figures")
        for test, measured in FIGURES:
            line = ", ".join(f"{k}={v}" for k, v in measured.items())
            terminalreporter.write_line(f"{test}: {line}")


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: integration tests need the real PostgreSQL and Kafka. "
            "Run them with `make test`, which starts both (or set DATABASE_URL and "
            "KAFKA_BOOTSTRAP_SERVERS to servers of your own).",
            pytrace=False,
        )
    return value


@pytest.fixture(scope="session")
def database_url() -> str:
    return _required("DATABASE_URL")


@pytest.fixture(scope="session")
def bootstrap() -> str:
    return _required("KAFKA_BOOTSTRAP_SERVERS")


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def topics(bootstrap: str) -> Topics:
    """Topics of their own for each test, so tests never read each other's messages."""
    topics = Topics(f"t{uuid.uuid4().hex[:10]}")
    await ensure_topics(bootstrap, topics, partitions=3, replication_factor=1)
    return topics


@pytest.fixture
async def schema(engine: AsyncEngine) -> AsyncIterator[TestSchema]:
    """A fresh PostgreSQL schema with an inbox, an outbox and a table of effects."""
    schema = TestSchema(f"t_{uuid.uuid4().hex[:10]}")
    async with engine.begin() as conn:
        await conn.execute(text(f'create schema "{schema.name}"'))
        await conn.run_sync(schema.metadata.create_all)
    yield schema
    async with engine.begin() as conn:
        await conn.execute(text(f'drop schema "{schema.name}" cascade'))


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    """A real SMTP server (aiosmtpd) for this test: its recorder and port."""
    with running_smtp() as server:
        yield server
