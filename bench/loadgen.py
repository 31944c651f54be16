"""Load from a second process with vegeta (Go, constant-rate or flat-out), built from the Go
module proxy into .cache/bin the first time."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VEGETA = ROOT / ".cache" / "bin" / "vegeta"
VEGETA_MODULE = "github.com/tsenart/vegeta/v12@v12.12.0"


def ensure_vegeta() -> Path:
    if VEGETA.exists():
        return VEGETA
    if shutil.which("go") is None:
        raise RuntimeError("`make bench` needs Go to build its load generator (vegeta)")
    env = {**os.environ, "GOBIN": str(VEGETA.parent)}
    subprocess.run(["go", "install", VEGETA_MODULE], check=True, env=env)
    return VEGETA


@dataclass
class Attack:
    requests_per_second: float  # successful requests per second
    success: float
    p50_ms: float
    p99_ms: float
    status_codes: dict[str, int]


def attack(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    seconds: int,
    rate: int = 0,
    workers: int = 16,
    method: str = "POST",
) -> Attack:
    """Send `body` to `url` for `seconds`: flat out (rate=0, `workers` connections) or at
    `rate` requests per second."""
    target = {
        "method": method,
        "url": url,
        "body": base64.b64encode(body).decode(),
        "header": {k: [v] for k, v in headers.items()},
    }
    args = [
        str(ensure_vegeta()),
        "attack",
        "-format=json",
        f"-duration={seconds}s",
        f"-rate={rate}/s",
        "-timeout=10s",
    ]
    if rate == 0:
        args += [f"-workers={workers}", f"-max-workers={workers}"]
    attacked = subprocess.run(
        args, input=json.dumps(target).encode() + b"\n", capture_output=True, check=True
    )
    report = subprocess.run(
        [str(VEGETA), "report", "-type=json"],
        input=attacked.stdout,
        capture_output=True,
        check=True,
    )
    data = json.loads(report.stdout)
    return Attack(
        requests_per_second=data["throughput"],
        success=data["success"],
        p50_ms=data["latencies"]["50th"] / 1e6,
        p99_ms=data["latencies"]["99th"] / 1e6,
        status_codes=data["status_codes"],
    )
