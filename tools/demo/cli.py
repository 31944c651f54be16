"""`leadflow demo …`: the demo workspace, its web site and its simulated traffic."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tools.demo import setup, traffic

app = typer.Typer(help="The demo: workspace, web site, simulated traffic.", no_args_is_help=True)
StateFile = Annotated[
    Path,
    typer.Option(help="where the demo's keys are kept"),
]


def _state_default() -> Path:
    return Path(os.environ.get("LEADFLOW_HOME", ".local/run")) / "demo.json"


def _urls(site: str) -> setup.Urls:
    host = "http://127.0.0.1"
    return setup.Urls(
        ingest=os.environ.get("DEMO_INGEST_URL", f"{host}:{os.environ.get('INGEST_PORT', 8001)}"),
        scoring=os.environ.get(
            "DEMO_SCORING_URL", f"{host}:{os.environ.get('SCORING_PORT', 8002)}"
        ),
        nurture=os.environ.get(
            "DEMO_NURTURE_URL", f"{host}:{os.environ.get('NURTURE_PORT', 8003)}"
        ),
        reporting=os.environ.get(
            "DEMO_REPORTING_URL", f"{host}:{os.environ.get('REPORTING_PORT', 8004)}"
        ),
        site=site,
    )


def _load(state: Path) -> setup.Demo:
    demo = setup.Demo.load(state)
    if demo is None:
        raise typer.BadParameter(f"no demo in {state}: is `make run` running?")
    return demo


@app.command("setup")
def setup_(
    state: Annotated[Path | None, typer.Option(help="where the demo's keys are kept")] = None,
    site: Annotated[str, typer.Option(help="the demo site's origin")] = "http://127.0.0.1:8080",
) -> None:
    """Create the demo workspace and its nurture sequence once; print its keys."""
    state = state or _state_default()
    try:
        demo, created = setup.ensure(state, _urls(site))
    except setup.SetupFailed as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"demo workspace   {demo.workspace_id} ({'created' if created else 'kept'})")
    typer.echo(f"write key        {demo.write_key}   (public: the site's tracker uses it)")
    typer.echo(f"API key          {demo.api_key}   (secret: Authorization: Bearer ...)")
    typer.echo(f"nurture sequence {demo.sequence_id} (active; keys also in {state})")


@app.command()
def site(
    state: Annotated[Path | None, typer.Option(help="where the demo's keys are kept")] = None,
    port: Annotated[int, typer.Option(help="where the site listens")] = 8080,
    ingest: Annotated[str | None, typer.Option(help="ingest's URL, as browsers reach it")] = None,
) -> None:
    """Serve the demo web site (the tracker embedded, with the demo's write key)."""
    import uvicorn

    from tools.demo.site import create_site

    demo = _load(state or _state_default())
    app_ = create_site(ingest or _urls("").ingest, demo.write_key)
    uvicorn.run(app_, host="127.0.0.1", port=port, log_level="warning")


@app.command()
def run(
    state: Annotated[Path | None, typer.Option(help="where the demo's keys are kept")] = None,
    leads: Annotated[int, typer.Option(help="simulated people")] = 400,
    days: Annotated[int, typer.Option(help="days of history, ending now")] = 30,
    seed: Annotated[int, typer.Option(help="same seed, same people and events")] = 7,
    seconds: Annotated[float, typer.Option(help="how long to watch at most")] = 90,
) -> None:
    """Send simulated traffic through ingest, then watch scores, MQLs and emails appear."""
    demo = _load(state or _state_default())
    urls = _urls("")
    typer.echo(f"sending {leads} simulated people ({days} days of history) to {urls.ingest} ...")
    sent = traffic.send(demo, urls, leads=leads, days=days, seed=seed)
    typer.echo(f"sent {sent} events; what LeadFlow made of them (funnel from reporting):")
    final = traffic.watch(demo, urls, days=days, seconds=seconds, say=typer.echo)
    auth = f'-H "Authorization: Bearer {demo.api_key}"'
    period = f"start={final['period']['start']}&end={final['period']['end']}"
    console_port = os.environ.get("CONSOLE_PORT", 8005)
    typer.echo(
        f"""
Look at it yourself:
  console     http://127.0.0.1:{console_port}   (sign in with the API key {demo.api_key})
  emails      http://127.0.0.1:{os.environ.get("MAILBOX_PORT", 8025)}   (the local mailbox)
  MQLs        curl {auth} '{urls.scoring}/v1/leads?stage=mql&sort=-score&limit=5'
  one lead    curl {auth} '{urls.scoring}/v1/leads/LEAD_ID'   (score, factors, stages)
  funnel      curl {auth} '{urls.reporting}/v1/funnel?{period}&format=csv'
  sequence    curl {auth} '{urls.nurture}/v1/sequences/{demo.sequence_id}/results'"""
    )
