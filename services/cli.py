"""The `leadflow` command."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
import uvicorn

from services.ingest import cli as workspace_cli
from services.registry import SERVICES, ServiceInfo
from shared.bus import ensure_topics
from shared.db.migrations import upgrade
from shared.events import Topics
from shared.logging import configure_logging

app = typer.Typer(help="LeadFlow: event-driven lead scoring and nurturing.", no_args_is_help=True)
app.add_typer(workspace_cli.app, name="workspace")


def _pick(names: list[str] | None) -> list[ServiceInfo]:
    unknown = sorted(set(names or []) - set(SERVICES))
    if unknown:
        raise typer.BadParameter(f"unknown service(s) {unknown}; known: {sorted(SERVICES)}")
    return [SERVICES[n] for n in names] if names else list(SERVICES.values())


@app.command()
def migrate(
    services: Annotated[
        list[str] | None, typer.Argument(help="services to migrate (default: all)")
    ] = None,
) -> None:
    """Bring each service's PostgreSQL schema to the latest migration."""
    configure_logging("migrate", level="WARNING", json=False)

    async def run() -> None:
        for info in _pick(services):
            settings = info.settings()
            await upgrade(
                info.migrations, database_url=settings.database_url, schema=settings.db_schema
            )
            typer.echo(f"migrated {info.name} (schema {settings.db_schema})")

    asyncio.run(run())


@app.command()
def topics() -> None:
    """Create the Kafka topics that do not exist yet."""
    settings = SERVICES["ingest"].settings()

    async def run() -> list[str]:
        return await ensure_topics(
            settings.kafka_bootstrap_servers,
            Topics(settings.topic_prefix),
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )

    created = asyncio.run(run())
    typer.echo(f"created: {', '.join(created) or 'none (all existed)'}")


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"one of {', '.join(SERVICES)}")],
    host: Annotated[str | None, typer.Option(help="default: the service's setting")] = None,
    port: Annotated[int | None, typer.Option(help="default: the service's setting")] = None,
) -> None:
    """Run one service's HTTP API (and its consumers) in this process."""
    (info,) = _pick([service])
    settings = info.settings()
    uvicorn.run(
        info.app_factory,
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,  # the app configures JSON logging itself
        access_log=False,
    )


if __name__ == "__main__":
    app()
