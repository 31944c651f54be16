"""The `leadflow` command."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from services.ingest import cli as workspace_cli
from services.registry import SERVICES, ServiceInfo
from services.scoring import cli as scoring_cli
from shared.bus import ensure_topics
from shared.bus.tail import tail
from shared.db.migrations import upgrade
from shared.events import Topics
from shared.logging import configure_logging
from tools.demo import cli as demo_cli
from tools.simulation import simulate as simulation
from tools.simulation import traffic

app = typer.Typer(help="LeadFlow: event-driven lead scoring and nurturing.", no_args_is_help=True)
app.add_typer(workspace_cli.app, name="workspace")
app.add_typer(scoring_cli.app, name="scoring")
app.add_typer(demo_cli.app, name="demo")


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
            if not info.uses_database:
                typer.echo(f"{info.name} has no database: nothing to migrate")
                continue
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


TOPIC_NAMES = ["touchpoints", "lead-events", "email-events", "workspaces", "deadletter"]


@app.command()
def events(
    topic: Annotated[str, typer.Argument(help=f"one of {', '.join(TOPIC_NAMES)}")] = "touchpoints",
    from_beginning: Annotated[bool, typer.Option(help="start at the oldest event")] = False,
    count: Annotated[int | None, typer.Option(help="stop after this many")] = None,
    workspace: Annotated[str | None, typer.Option(help="only this workspace's events")] = None,
    idle_exit: Annotated[
        float | None, typer.Option(help="stop after this many quiet seconds")
    ] = None,
) -> None:
    """Print a topic's events as JSON lines, as they arrive (Ctrl-C to stop)."""
    if topic not in TOPIC_NAMES:
        raise typer.BadParameter(f"unknown topic {topic!r}; known: {', '.join(TOPIC_NAMES)}")
    settings = SERVICES["ingest"].settings()
    name = f"{settings.topic_prefix}.{topic}"
    idle_ms = int(idle_exit * 1000) if idle_exit else None

    async def run() -> None:
        shown = 0
        async for record in tail(
            settings.kafka_bootstrap_servers,
            name,
            from_beginning=from_beginning,
            idle_exit_ms=idle_ms,
        ):
            text = record.value.decode(errors="replace")
            if workspace and f'"workspace_id":"{workspace}"' not in text:
                continue
            typer.echo(text)
            shown += 1
            if count is not None and shown >= count:
                return

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@app.command()
def simulate(
    leads: Annotated[int, typer.Option(help="how many people")] = 500,
    days: Annotated[int, typer.Option(help="how many days of history, ending now")] = 60,
    seed: Annotated[int, typer.Option(help="same seed, same traffic")] = 7,
    out: Annotated[Path | None, typer.Option(help="write the messages here (JSON lines)")] = None,
    truth: Annotated[
        Path | None, typer.Option(help="write each person's true propensity here")
    ] = None,
    ingest_url: Annotated[
        str | None, typer.Option(help="send through ingest, e.g. http://127.0.0.1:8001")
    ] = None,
    write_key: Annotated[
        str | None, typer.Option(help="the workspace's write key (with --ingest-url)")
    ] = None,
) -> None:
    """Synthetic visitors with a known conversion propensity (see tools/simulation/simulate.py)."""
    if (ingest_url is None) == (out is None):
        raise typer.BadParameter("give either --out FILE or --ingest-url URL (with --write-key)")
    if ingest_url and not write_key:
        raise typer.BadParameter("--ingest-url needs --write-key")
    result = simulation.simulate(leads, days=days, seed=seed)
    if out is not None:
        traffic.write_jsonl(out, result.messages)
        typer.echo(f"wrote {len(result.messages)} messages to {out}")
    elif ingest_url and write_key:
        sent = traffic.send_to_ingest(ingest_url, write_key, result.messages)
        typer.echo(f"sent {sent} messages to {ingest_url}")
    if truth is not None:
        traffic.write_jsonl(truth, result.truth())
    converted = sum(p.converted for p in result.people)
    typer.echo(f"{leads} people, {converted} converted ({converted / max(leads, 1):.1%})")


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"one of {', '.join(SERVICES)}")],
    host: Annotated[str | None, typer.Option(help="default: the service's setting")] = None,
    port: Annotated[int | None, typer.Option(help="default: the service's setting")] = None,
) -> None:
    """Run one service's HTTP API (and its consumers) in this process."""
    (info,) = _pick([service])
    try:
        # The address it listens on is checked with the settings (the development secret
        # only on loopback), whether it comes from --host or LEADFLOW_HOST.
        settings = info.settings(host=host) if host else info.settings()
    except ValidationError as exc:
        reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        typer.echo(f"leadflow serve {service}: refusing to start: {reasons}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        info.app_factory,
        factory=True,
        host=settings.host,
        port=port or settings.port,
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        log_config=None,  # the app configures JSON logging itself
        access_log=False,
    )


@app.command()
def mailbox(
    folder: Annotated[Path, typer.Option(help="where received mail is kept as .eml")] = Path(
        ".local/run/mail"
    ),
    smtp_port: Annotated[int, typer.Option(help="SMTP port (nurture's default)")] = 2525,
    http_port: Annotated[int, typer.Option(help="the page listing received mail")] = 8025,
) -> None:
    """A local SMTP server that keeps what nurture sends, with a page listing it."""
    from tools import mailbox as local_mailbox

    typer.echo(f"mailbox: SMTP 127.0.0.1:{smtp_port}, page http://127.0.0.1:{http_port}")
    local_mailbox.run(folder, smtp_port=smtp_port, http_port=http_port)


if __name__ == "__main__":
    app()
