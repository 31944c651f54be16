"""All four services in this process, on the real PostgreSQL and Kafka, sharing one set of
topics: for the isolation, fuzz and poison-message tests.

The apps (and their lifespans: engine, producer, consumers, background jobs) live on an
event loop of their own in a thread. Callers reach them through `bridge(app)`, an ASGI app
usable from any loop or thread (pytest's loop, schemathesis' test client): each request is
run on the apps' loop, so asyncpg and aiokafka only ever see the loop they were made on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.ingest.main import create_app as create_ingest
from services.ingest.settings import IngestSettings
from services.nurture.main import create_app as create_nurture
from services.nurture.settings import NurtureSettings
from services.registry import SERVICES
from services.reporting.main import create_app as create_reporting
from services.reporting.settings import ReportingSettings
from services.scoring.main import create_app as create_scoring
from services.scoring.settings import ScoringSettings
from shared.bus import ensure_topics
from shared.db.migrations import upgrade
from shared.events import Topics
from tests.integration.support import ROOT

SECRET = "integration-test-secret"
log = logging.getLogger(__name__)
NAMES = ("ingest", "scoring", "nurture", "reporting")


@dataclass(frozen=True)
class Key:
    id: str
    api_key: str
    write_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def bridge(app: ASGIApp, loop: asyncio.AbstractEventLoop) -> ASGIApp:
    """`app`, served on `loop`, callable from another loop: the request body is read on the
    caller's side, the app runs on its own loop, the response is replayed to the caller.
    Lifespan messages are answered here: the stack runs the real lifespans once."""

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        messages: list[Message] = []

        async def run() -> None:
            sent = False

            async def inner_receive() -> Message:
                nonlocal sent
                if sent:
                    await asyncio.Event().wait()  # nothing more: the client waits for us
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}

            async def inner_send(message: Message) -> None:
                messages.append(message)

            try:
                await app(dict(scope), inner_receive, inner_send)
            except Exception:
                # As a server does: the app already answered 500 (Starlette re-raises after
                # sending it); the caller sees that answer, the traceback goes to the log.
                if not any(m["type"] == "http.response.start" for m in messages):
                    raise
                log.exception("%s %s failed", scope["method"], scope["path"])

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), loop))
        for message in messages:
            await send(message)

    return call


@dataclass
class Stack:
    topics: Topics
    env: dict[str, str]
    apps: dict[str, FastAPI]  # each service's FastAPI app (its OpenAPI, its routes)
    asgi: dict[str, ASGIApp]  # what to call (ingest's fast path in front of its app)
    loop: asyncio.AbstractEventLoop
    smtp_port: int
    keys: list[Key] = field(default_factory=list)

    def app(self, name: str) -> ASGIApp:
        return bridge(self.asgi[name], self.loop)

    def client(self, name: str, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app(name)),
            base_url=f"http://{name}.test",
            **options,
        )

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the apps' loop (e.g. to read a service's state) and wait."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def new_workspace(self) -> Key:
        """A workspace made by `leadflow workspace create` (the real CLI), once every
        service knows its keys (they arrive through the workspaces topic)."""
        out = subprocess.run(
            [sys.executable, "-m", "services.cli", "workspace", "create", _name(), "--json"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        data = json.loads(out.stdout)
        key = Key(data["id"], data["api_key"], data["write_key"])

        async def known() -> None:
            for _ in range(600):
                if all(app.state.runtime.directory.get(key.id) for app in self.apps.values()):
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"services did not learn workspace {key.id} in 30 s")

        self.run(known())
        return key


def _name() -> str:
    return f"stack-{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def running_stack(database_url: str, bootstrap: str, smtp_port: int) -> Iterator[Stack]:
    """Migrate, create topics, start the four apps on their own loop; stop them after."""
    topics = Topics(f"t{uuid.uuid4().hex[:10]}")
    common: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap,
        "topic_prefix": topics.prefix,
        "topic_partitions": 2,
        "secret_key": SECRET,
        "log_json": False,
        "log_level": "WARNING",
    }
    ingest = create_ingest(IngestSettings(**common))
    fast: dict[str, ASGIApp] = {"ingest": ingest}
    apps: dict[str, FastAPI] = {
        "ingest": ingest.app,
        "scoring": create_scoring(ScoringSettings(**common)),
        "nurture": create_nurture(
            NurtureSettings(
                **common,
                smtp_port=smtp_port,
                smtp_connections=1,
                public_url="http://nurture.test",
                tracking_url="http://ingest.test",
            )
        ),
        "reporting": create_reporting(ReportingSettings(**common)),
    }
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LEADFLOW_TOPIC_PREFIX": topics.prefix,
        "LEADFLOW_SECRET_KEY": SECRET,
    }
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[None] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            for name in NAMES:
                await upgrade(SERVICES[name].migrations, database_url=database_url, schema=name)
            await ensure_topics(bootstrap, topics, partitions=2, replication_factor=1)
            async with contextlib.AsyncExitStack() as lifespans:
                for app in apps.values():
                    await lifespans.enter_async_context(app.router.lifespan_context(app))
                started.set_result(None)
                await stop.wait()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    started.result(timeout=180)
    try:
        yield Stack(
            topics,
            env,
            apps,
            {**apps, **fast},
            loop,
            smtp_port,
        )
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        loop.close()
