"""`leadflow workspace …`: create workspaces, list them, rotate their keys, change settings."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from services.ingest.domain import workspaces as ws
from services.ingest.settings import IngestSettings
from services.ingest.store import tables
from services.ingest.store import workspaces as store
from shared.bus import KafkaPublisher, create_producer
from shared.db import OutboxRelay, UnitOfWork, create_engine, create_session_factory
from shared.events import Topics

app = typer.Typer(help="Workspaces and their keys.", no_args_is_help=True)
T = TypeVar("T")
JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def run_change(action: Callable[[UnitOfWork, Topics], Awaitable[T]]) -> T:
    """Run one change in a transaction, then publish it to Kafka right away."""

    async def go() -> T:
        settings = IngestSettings()
        topics = Topics(settings.topic_prefix)
        async with _engine(settings) as engine:
            uow = UnitOfWork(
                create_session_factory(engine), inbox=tables.inbox, outbox=tables.outbox
            )
            async with uow:
                result = await action(uow, topics)
            await _publish_now(settings, engine)
        return result

    try:
        return asyncio.run(go())
    except ws.WorkspaceNotFound as exc:
        raise typer.BadParameter(f"no workspace {exc}") from None


@contextlib.asynccontextmanager
async def _engine(settings: IngestSettings) -> AsyncIterator[Any]:
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _publish_now(settings: IngestSettings, engine: Any) -> None:
    producer = create_producer(settings.kafka_bootstrap_servers, client_id="leadflow-cli")
    try:
        await asyncio.wait_for(producer.start(), 10)
        await OutboxRelay(engine, tables.outbox, KafkaPublisher(producer)).publish_pending()
    except (
        TimeoutError,
        OSError,
        Exception,
    ) as exc:  # saved; the ingest service publishes it later
        typer.echo(f"warning: saved, but not yet published to Kafka ({exc!r})", err=True)
    finally:
        await producer.stop()


def _show(issued: ws.IssuedKeys | ws.Workspace, as_json: bool) -> None:
    workspace = issued.workspace if isinstance(issued, ws.IssuedKeys) else issued
    data: dict[str, Any] = {
        "id": workspace.id,
        "name": workspace.name,
        "allowed_origins": workspace.allowed_origins,
        "truncate_ip": workspace.truncate_ip,
    }
    if isinstance(issued, ws.IssuedKeys):
        data |= {
            k: v for k, v in (("write_key", issued.write_key), ("api_key", issued.api_key)) if v
        }
    if as_json:
        typer.echo(json.dumps(data))
        return
    for key, value in data.items():
        typer.echo(f"{key:16} {value}")
    if isinstance(issued, ws.IssuedKeys):
        typer.echo("Keys are shown only now: LeadFlow stores their hashes.")


@app.command()
def create(
    name: str,
    allowed_origin: Annotated[
        list[str] | None, typer.Option(help="origin allowed to send browser events (repeat)")
    ] = None,
    truncate_ip: Annotated[bool, typer.Option(help="drop the last part of IP addresses")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a workspace and print its write key (public) and API key (secret)."""
    issued = run_change(
        lambda uow, topics: store.create(
            uow, topics, name=name, allowed_origins=allowed_origin or [], truncate_ip=truncate_ip
        )
    )
    _show(issued, as_json)


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """List workspaces (keys are shown by their first characters only)."""

    async def action(uow: UnitOfWork, topics: Topics) -> list[ws.Workspace]:
        return await store.list_all(uow.session)

    found = run_change(action)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(w) for w in found], default=str))
        return
    for w in found:
        keys = " ".join(f"{k}={p}" for k, p in sorted(w.key_prefixes.items()))
        typer.echo(f"{w.id}  {w.name!r}  {keys}  origins={w.allowed_origins or 'any'}")


@app.command("rotate-key")
def rotate_key(
    workspace_id: str,
    kind: Annotated[str, typer.Option(help="write or api")] = "write",
    as_json: JsonFlag = False,
) -> None:
    """Replace a workspace's write or API key; the old one stops working within seconds."""
    if kind not in ("write", "api"):
        raise typer.BadParameter("--kind must be 'write' or 'api'")
    issued = run_change(lambda uow, topics: store.rotate_key(uow, topics, workspace_id, kind))  # type: ignore[arg-type]
    _show(issued, as_json)


@app.command()
def update(
    workspace_id: str,
    name: Annotated[str | None, typer.Option()] = None,
    allowed_origin: Annotated[
        list[str] | None, typer.Option(help="replaces the list (repeat)")
    ] = None,
    any_origin: Annotated[bool, typer.Option(help="clear the allowed origins")] = False,
    truncate_ip: Annotated[bool | None, typer.Option("--truncate-ip/--keep-ip")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a workspace's name, allowed origins or IP truncation."""
    origins = [] if any_origin else allowed_origin
    workspace = run_change(
        lambda uow, topics: store.change(
            uow, topics, workspace_id, name=name, allowed_origins=origins, truncate_ip=truncate_ip
        )
    )
    _show(workspace, as_json)
