"""`leadflow serve` checks the address it listens on before it starts anything."""

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What uvicorn was asked to run (nothing is started)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    for name in ("LEADFLOW_SECRET_KEY", "LEADFLOW_HOST", "LEADFLOW_ENV", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    return calls


@pytest.mark.parametrize("environment", ["development", "test"])
def test_the_development_secret_is_refused_beyond_loopback(
    started: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    monkeypatch.setenv("LEADFLOW_ENV", environment)
    result = CliRunner().invoke(cli.app, ["serve", "console", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to start" in result.output
    assert "LEADFLOW_SECRET_KEY must be set" in result.output
    assert started == []


def test_the_host_setting_is_checked_too(
    started: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_HOST", "0.0.0.0")
    result = CliRunner().invoke(cli.app, ["serve", "ingest"])
    assert result.exit_code == 2
    assert "LEADFLOW_SECRET_KEY" in result.output
    assert started == []


def test_loopback_or_a_secret_of_its_own_starts(
    started: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CliRunner().invoke(cli.app, ["serve", "console"]).exit_code == 0
    monkeypatch.setenv("LEADFLOW_SECRET_KEY", "a-secret-of-its-own")
    monkeypatch.setenv("LEADFLOW_TRUSTED_PROXIES", "10.0.0.1")
    assert CliRunner().invoke(cli.app, ["serve", "console", "--host", "0.0.0.0"]).exit_code == 0
    assert [(c["host"], c["forwarded_allow_ips"]) for c in started] == [
        ("127.0.0.1", "127.0.0.1,::1"),
        ("0.0.0.0", "10.0.0.1"),
    ]


def test_make_run_makes_its_secret_once_and_keeps_it_private(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LEADFLOW_SECRET_KEY"}
    env["LEADFLOW_HOME"] = str(tmp_path)
    script = f"source {ROOT}/deploy/local/common.sh && local_secret"

    def secret(**extra: str) -> str:
        out = subprocess.run(
            ["bash", "-c", script], env={**env, **extra}, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    first = secret()
    assert len(first) >= 40
    assert secret() == first
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600
    assert secret(LEADFLOW_SECRET_KEY="exported") == "exported"
