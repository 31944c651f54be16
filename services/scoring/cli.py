"""`leadflow scoring …`: train, list and promote conversion models.

scikit-learn and numpy are imported inside the commands: every `leadflow` process (each
service's `serve`) imports this module, and only scoring needs them (~80 MiB).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession
from tqdm import tqdm

from services.scoring.settings import ScoringSettings
from services.scoring.store import registry
from shared.db import create_engine, create_session_factory
from tools.simulation.simulate import simulate

if TYPE_CHECKING:
    from services.scoring.domain.scorer import ModelBundle
    from services.scoring.domain.training import Example, Report

app = typer.Typer(help="Conversion models.", no_args_is_help=True)
T = TypeVar("T")


@app.command()
def train(
    simulated: Annotated[
        int, typer.Option(help="train on this many simulated people (0: on the database's leads)")
    ] = 5000,
    seed: Annotated[int, typer.Option(help="seed of the simulation")] = 7,
    workspace: Annotated[
        str | None, typer.Option(help="with --simulated 0: only this workspace's leads")
    ] = None,
    converted_stage: Annotated[
        str, typer.Option(help="with --simulated 0: a lead that reached this stage converted")
    ] = "customer",
    conversion_event: Annotated[
        str, typer.Option(help="the event that marks a conversion")
    ] = "Deal Won",
    out: Annotated[Path, typer.Option(help="folder that receives models/<version>/")] = Path(
        "models"
    ),
    register: Annotated[bool, typer.Option(help="add it to the registry (database)")] = True,
    ship: Annotated[
        bool, typer.Option(help="also make it the default model shipped with LeadFlow")
    ] = False,
) -> None:
    """Train on labelled history, evaluate on the later people, save model, report and plots."""
    from services.scoring.domain import training
    from services.scoring.workers.live_models import DEFAULT_MODEL

    version = "m" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    folder = out / version
    with tqdm(total=4, desc="training", unit="step") as progress:
        if simulated:
            rows, source = _simulated_examples(progress, simulated, seed, conversion_event)
        else:
            rows, source = _lead_examples(progress, workspace, converted_stage, conversion_event)
        progress.update()
        progress.set_postfix_str("fitting")
        try:
            bundle, report, curves = training.train(rows, version=version)
        except ValueError as exc:
            raise typer.BadParameter(f"cannot train on {len(rows)} people: {exc}") from None
        progress.update()
        progress.set_postfix_str("saving")
        artifact, metrics, plots = _save(folder, bundle, report, curves, source=source)
        progress.update()
    typer.echo("\n".join(report.lines()))
    typer.echo(f"saved model {version} in {folder} (plots: {', '.join(p.name for p in plots)})")
    if ship:
        DEFAULT_MODEL.write_bytes(artifact)
        typer.echo(f"shipped {version} as the default model ({DEFAULT_MODEL})")
    if register:
        _register(version, source, metrics, artifact, workspace)
        typer.echo(f"registered {version}; make it live with: leadflow scoring promote {version}")


def _register(
    version: str, source: str, metrics: dict[str, Any], artifact: bytes, workspace: str | None
) -> None:
    """Add the model to the registry, signed with the service's secret (domain/artifacts.py)."""
    secret = ScoringSettings().secret_key.get_secret_value()
    _in_db(
        lambda s: registry.register(
            s,
            version=version,
            source=source,
            metrics=metrics,
            artifact=artifact,
            secret=secret,
            workspace_id=workspace,
        )
    )


def _save(
    folder: Path, bundle: ModelBundle, report: Report, curves: dict[str, Any], *, source: str
) -> tuple[bytes, dict[str, Any], list[Path]]:
    """The model, its report and plots in `folder`; the model's bytes, metrics and plots."""
    from services.scoring.adapters.plots import save_plots

    plots = save_plots(curves, report, folder)
    artifact = bundle.to_bytes()
    (folder / "model.joblib").write_bytes(artifact)
    metrics = asdict(report)
    meta = {"version": bundle.version, "source": source, "metrics": metrics}
    (folder / "report.json").write_text(json.dumps(meta, indent=2))
    return artifact, metrics, plots


def _simulated_examples(
    progress: tqdm[Any], simulated: int, seed: int, conversion_event: str
) -> tuple[list[Example], str]:
    from services.scoring.domain import training

    progress.set_postfix_str("simulating history")
    sim = simulate(simulated, seed=seed)
    progress.update()
    progress.set_postfix_str("building features")
    rows = training.examples(
        sim.messages, conversion_event=conversion_event, truth=sim.propensity_by_key()
    )
    return rows, f"simulated:{simulated}:seed={seed}"


def _lead_examples(
    progress: tqdm[Any], workspace: str | None, converted_stage: str, conversion_event: str
) -> tuple[list[Example], str]:
    from services.scoring.domain import training
    from services.scoring.store import history

    progress.set_postfix_str("reading leads")
    histories = _in_db(
        lambda s: history.histories(
            s,
            workspace_id=workspace,
            converted_stage=converted_stage,
            conversion_event=conversion_event,
        )
    )
    progress.update()
    progress.set_postfix_str("building features")
    rows = training.examples_from_histories(histories)
    return rows, f"leads:{workspace or 'all workspaces'}:{converted_stage}|{conversion_event}"


@app.command()
def promote(version: str) -> None:
    """Make a registered model the live one."""
    try:
        _in_db(lambda s: registry.promote(s, version))
    except registry.UnknownModel:
        raise typer.BadParameter(f"no model {version}: see `leadflow scoring models`") from None
    typer.echo(f"model {version} is live")


@app.command("models")
def list_models() -> None:
    """Registered models, newest first."""
    for m in _in_db(registry.listing):
        live = "*" if m.live else " "
        auc = m.metrics.get("roc_auc", float("nan"))
        typer.echo(f"{live} {m.version}  {m.created_at:%Y-%m-%d %H:%M}  AUC {auc:.3f}  {m.source}")


def _in_db(action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `action` in one committed transaction on the scoring database."""

    async def go() -> T:
        engine = create_engine(ScoringSettings().database_url, pool_size=1)
        try:
            async with create_session_factory(engine)() as session, session.begin():
                return await action(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())
