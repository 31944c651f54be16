"""Training registers a versioned model; promote makes one live; the artifact scores."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.domain.envelopes import envelopes_of
from services.registry import SERVICES
from services.scoring.domain.scorer import ModelBundle, score_many
from services.scoring.store import registry
from services.scoring.store.tables import models
from shared.db import create_session_factory
from shared.db.migrations import upgrade
from shared.events import Topics
from tests.integration.scoring_support import Scoring
from tests.integration.support import ROOT
from tools.simulation.simulate import simulate


def leadflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
    )


async def test_train_registers_and_promote_makes_it_live(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    await upgrade(SERVICES["scoring"].migrations, database_url=database_url, schema="scoring")
    trained = await asyncio.to_thread(
        leadflow, "scoring", "train", "--simulated", "1500", "--out", str(tmp_path)
    )
    assert trained.returncode == 0, trained.stderr
    version = trained.stdout.split("saved model ", 1)[1].split()[0]
    assert f"registered {version}" in trained.stdout

    listed = await asyncio.to_thread(leadflow, "scoring", "models")
    assert f"  {version}  " in listed.stdout  # listed, not live (no star)
    promoted = await asyncio.to_thread(leadflow, "scoring", "promote", version)
    assert promoted.stdout.strip() == f"model {version} is live"
    assert f"* {version}" in (await asyncio.to_thread(leadflow, "scoring", "models")).stdout
    unknown = await asyncio.to_thread(leadflow, "scoring", "promote", "m-nope")
    assert unknown.returncode == 2
    assert "no model m-nope" in unknown.stderr

    async with create_session_factory(engine)() as session, session.begin():
        live = await registry.live(session)
        # Other tests score with the shipped default: nothing stays promoted.
        await session.execute(update(models).where(models.c.live).values(live=False))
    assert live is not None
    assert live[0] == version
    bundle = ModelBundle.from_bytes(live[1], live[0])
    scores = score_many(bundle, [{"pricing_views_7d": 3, "seniority": 5, "industry": "software"}])
    assert 0 < scores.probability[0] < 1
    assert bundle.version == version


async def test_train_reads_labelled_history_from_the_scoring_database(
    database_url: str, engine: AsyncEngine, topics: Topics, tmp_path: Path
) -> None:
    await upgrade(SERVICES["scoring"].migrations, database_url=database_url, schema="scoring")
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    sim = simulate(1500, seed=23, end=datetime(2026, 3, 1, tzinfo=UTC))
    await Scoring(engine, topics.lead_events).apply(envelopes_of(sim.messages, ws), batch=1000)
    trained = await asyncio.to_thread(
        leadflow,
        "scoring",
        "train",
        "--simulated",
        "0",
        "--workspace",
        ws,
        "--out",
        str(tmp_path),
        "--no-register",
    )
    assert trained.returncode == 0, trained.stderr
    assert "trained on" in trained.stdout
    [report_file] = await asyncio.to_thread(lambda: list(tmp_path.glob("*/report.json")))
    meta = json.loads(await asyncio.to_thread(report_file.read_text))
    assert meta["source"].startswith(f"leads:{ws}:customer")
    report = meta["metrics"]
    assert report["trained_on"] + report["tested_on"] >= 1000
    assert report["roc_auc"] > 0.75  # the same signal as from the simulation itself


async def test_train_without_history_says_why(tmp_path: Path, database_url: str) -> None:
    await upgrade(SERVICES["scoring"].migrations, database_url=database_url, schema="scoring")
    empty = await asyncio.to_thread(
        leadflow,
        "scoring",
        "train",
        "--simulated",
        "0",
        "--workspace",
        "ws_none",
        "--out",
        str(tmp_path),
        "--no-register",
    )
    assert empty.returncode == 2
    assert "cannot train on 0 people" in empty.stderr
