"""Training registers a versioned model; promote makes one live; the artifact scores."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import joblib
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import SERVICES
from services.scoring import registry
from shared.db import create_session_factory
from shared.db.migrations import upgrade
from tests.integration.support import ROOT


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

    async with create_session_factory(engine)() as session:
        live = await registry.live(session)
    assert live is not None
    assert live[0] == version
    model = joblib.load(io.BytesIO(live[1]))
    probability = model.predict_proba(
        [{"pricing_views_7d": 3, "seniority": 5, "industry": "software"}]
    )[0, 1]
    assert 0 < probability < 1
