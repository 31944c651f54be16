"""`leadflow scoring …`: train (and, later, promote) conversion models."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import joblib
import typer
from tqdm import tqdm

from services.scoring import training
from services.scoring.simulate import simulate

app = typer.Typer(help="Conversion models.", no_args_is_help=True)


@app.command()
def train(
    simulated: Annotated[int, typer.Option(help="train on this many simulated people")] = 5000,
    seed: Annotated[int, typer.Option(help="seed of the simulation")] = 7,
    out: Annotated[Path, typer.Option(help="folder that receives models/<version>/")] = Path(
        "models"
    ),
    conversion_event: Annotated[
        str, typer.Option(help="the event that marks a conversion")
    ] = training.CONVERSION_EVENT,
) -> None:
    """Train on labelled history, evaluate on the later people, save model, report and plots."""
    version = "m" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    folder = out / version
    with tqdm(total=4, desc="training", unit="step") as progress:
        progress.set_postfix_str("simulating history")
        sim = simulate(simulated, seed=seed)
        progress.update()
        progress.set_postfix_str("building features")
        rows = training.examples(
            sim.messages, conversion_event=conversion_event, truth=sim.propensity_by_key()
        )
        progress.update()
        progress.set_postfix_str("fitting")
        pipeline, report, curves = training.train(rows)
        progress.update()
        progress.set_postfix_str("saving")
        plots = training.save_plots(curves, report, folder)
        joblib.dump(pipeline, folder / "model.joblib")
        meta = {
            "version": version,
            "source": f"simulated:{simulated}:seed={seed}",
            "metrics": asdict(report),
        }
        (folder / "report.json").write_text(json.dumps(meta, indent=2))
        progress.update()
    typer.echo("\n".join(report.lines()))
    typer.echo(f"saved model {version} in {folder} (plots: {', '.join(p.name for p in plots)})")
