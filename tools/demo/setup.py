"""The demo workspace: created once, with example templates and an MQL nurture sequence.

Its keys are kept in `$LEADFLOW_HOME/demo.json` (LeadFlow itself stores only their hashes), so
every `make run` prints the same keys and `make demo` finds them. When the file's API key no
longer works (the database was wiped), a new workspace is created.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

# The `leadflow` command of this installation (services/cli.py, the console script's target),
# run as a subprocess: the demo uses ingest's CLI as an operator would, not its internals.
LEADFLOW = (sys.executable, "-m", "services.cli")


@dataclass(frozen=True)
class Urls:
    ingest: str = "http://127.0.0.1:8001"
    scoring: str = "http://127.0.0.1:8002"
    nurture: str = "http://127.0.0.1:8003"
    reporting: str = "http://127.0.0.1:8004"
    site: str = "http://127.0.0.1:8080"
    mailbox: str = "http://127.0.0.1:8025"


@dataclass(frozen=True)
class Demo:
    workspace_id: str
    write_key: str
    api_key: str
    sequence_id: str

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)  # the API key is a secret

    @classmethod
    def load(cls, path: Path) -> Demo | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


class SetupFailed(RuntimeError):
    pass


# The demo's nurture content. Links point at the demo site; nurture rewrites them into
# tracked links through ingest, so a click comes back as a touchpoint.
def templates(site: str) -> dict[str, dict[str, str]]:
    footer = (
        '<p style="color:#666;font-size:12px">You get this because you asked Northwind for a demo.'
        ' <a data-leadflow="unsubscribe" href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
    )
    return {
        "welcome": {
            "name": "Demo: welcome",
            "subject": "Welcome to Northwind, {{ lead.first_name | default('there') }}",
            "html": "<p>Hi {{ lead.first_name | default('there') }},</p>"
            "<p>Thanks for your interest. Here is the five-minute guide to scoring your leads:"
            f' <a href="{site}/guide">read the guide</a>.</p>'
            "<p>Your current score with us is {{ lead.score }} (we eat our own cooking).</p>"
            + footer,
            "text": "Hi {{ lead.first_name | default('there') }}, the guide: " + f"{site}/guide",
        },
        "demo-invite": {
            "name": "Demo: book a call",
            "subject": "{{ lead.first_name | default('Hi') }}, shall we walk you through it?",
            "html": "<p>You read the guide, so a 20-minute call might be the next step:"
            f' <a href="{site}/demo">pick a time</a>.</p>' + footer,
            "text": f"Pick a time for a call: {site}/demo",
        },
        "case-study": {
            "name": "Demo: case study",
            "subject": "How Acme doubled its qualified leads",
            "html": "<p>Acme's marketing team doubled its MQL-to-SQL rate in a quarter:"
            f' <a href="{site}/blog/lead-scoring-101">read how</a>.</p>' + footer,
            "text": f"How Acme did it: {site}/blog/lead-scoring-101",
        },
    }


def sequence(template_ids: dict[str, str]) -> dict[str, Any]:
    """Welcome at once, then after two minutes (short, for a demo) a call invitation to
    those who clicked and a case study to the others."""
    return {
        "name": "Demo: MQL welcome",
        "definition": {
            "trigger": {"kind": "stage_entered", "stage": "mql"},
            "steps": [
                {"kind": "email", "id": "welcome", "template_id": template_ids["welcome"]},
                {"kind": "wait", "id": "two-minutes", "duration": "PT2M"},
                {
                    "kind": "branch",
                    "id": "clicked",
                    "condition": {"event": "email.clicked", "within_days": 7},
                    "then": "invite",
                    "else": "case-study",
                },
                {"kind": "email", "id": "invite", "template_id": template_ids["demo-invite"]},
                {"kind": "email", "id": "case-study", "template_id": template_ids["case-study"]},
            ],
            "exit": {"stages": ["sql", "customer"], "events": ["Demo Booked"]},
            "reentry": {"policy": "never"},
        },
    }


# The demo treats a hand-raiser as sales-ready: a good-fit person (fit >= 40) who asks for a
# demo scores about 25-35 on the default model, so the demo's MQL bar is 25 instead of 40.
DEMO_THRESHOLDS = {"mql_score": 25, "mql_fit": 40}

# The demo sends at any hour, so emails arrive while you watch; a real workspace keeps the
# default office-hours window.
ANYTIME = {"start": "00:00", "end": "23:59", "days": [1, 2, 3, 4, 5, 6, 7]}


def ensure(state: Path, urls: Urls, *, wait_seconds: float = 60) -> tuple[Demo, bool]:
    """The demo workspace of `state`, created (with its sequence) if missing; and whether
    it was created now."""
    found = Demo.load(state)
    if found is not None and _works(urls.scoring, found.api_key):
        return found, False
    issued = create_workspace("Demo (Northwind)", _origins(urls.site))
    auth = {"Authorization": f"Bearer {issued['api_key']}"}
    with httpx.Client(base_url=urls.scoring, headers=auth, timeout=10) as scoring:
        _wait_known(scoring, "/v1/scoring/config", wait_seconds)
        _ok(scoring.put("/v1/scoring/config", json={"thresholds": DEMO_THRESHOLDS}))
    with httpx.Client(base_url=urls.nurture, headers=auth, timeout=10) as nurture:
        _wait_known(nurture, "/v1/nurture/config", wait_seconds)
        _ok(nurture.put("/v1/nurture/config", json={"send_window": ANYTIME}))
        ids = {
            key: _ok(nurture.post("/v1/templates", json=body))["id"]
            for key, body in templates(urls.site).items()
        }
        seq_id = _ok(nurture.post("/v1/sequences", json=sequence(ids)))["id"]
        _ok(nurture.post(f"/v1/sequences/{seq_id}/activate"))
    demo = Demo(issued["id"], issued["write_key"], issued["api_key"], seq_id)
    demo.save(state)
    return demo, True


def create_workspace(name: str, origins: list[str]) -> dict[str, str]:
    """`leadflow workspace create --json`: the new workspace's id and its two keys. Its
    warnings and errors go to this process's stderr, as when run in the same process."""
    args = [*LEADFLOW, "workspace", "create", name, "--json"]
    args += [option for origin in origins for option in ("--allowed-origin", origin)]
    done = subprocess.run(args, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SetupFailed(f"leadflow workspace create: exit {done.returncode} (see above)")
    try:
        created = json.loads(done.stdout)
        keys = {field: created[field] for field in ("id", "write_key", "api_key")}
    except (ValueError, KeyError, TypeError):
        keys = {}
    if not keys or not all(isinstance(v, str) for v in keys.values()):
        raise SetupFailed(f"leadflow workspace create printed {done.stdout!r}")
    return keys


def _origins(site: str) -> list[str]:
    origins = [site.rstrip("/")]
    if "127.0.0.1" in site:
        origins.append(site.rstrip("/").replace("127.0.0.1", "localhost"))
    return origins


def _works(scoring: str, api_key: str) -> bool:
    try:
        answer = httpx.get(
            f"{scoring}/v1/scoring/config",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise SetupFailed(f"scoring does not answer at {scoring}: {exc}") from exc
    return answer.status_code == 200


def _wait_known(client: httpx.Client, path: str, seconds: float) -> None:
    """Services learn new keys from the workspaces topic within seconds; wait for that."""
    deadline = time.monotonic() + seconds
    while True:
        answer = client.get(path)
        if answer.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise SetupFailed(f"{client.base_url} did not learn the new key: {answer.text}")
        time.sleep(0.5)


def _ok(answer: httpx.Response) -> Any:
    if answer.status_code >= 300:
        raise SetupFailed(f"{answer.request.method} {answer.request.url}: {answer.text}")
    return answer.json()
