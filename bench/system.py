"""The whole system under the demo's load: the four services as `make run` starts them,
the demo workspace and sequence, simulated visitors sent through ingest, a local SMTP
server. Measures how long the pipeline takes to settle and each service's peak memory
(beside its own idle memory, the baseline)."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import Figure
from bench.ingest import _rss_kib
from bench.loadgen import ROOT
from bench.nurture import smtp_server
from bench.scoring import CLI, applied, service
from shared.bus import ensure_topics
from shared.events import Topics
from tools.demo import setup, traffic
from tools.simulation import simulate as simulation
from tools.simulation import traffic as sending

SERVICES = ("ingest", "scoring", "nurture", "reporting")
PORTS = {"ingest": 18201, "scoring": 18202, "nurture": 18203, "reporting": 18204}


def _urls() -> setup.Urls:
    return setup.Urls(
        **{name: f"http://127.0.0.1:{port}" for name, port in PORTS.items()},
        site="http://127.0.0.1:18280",
    )


def _demo(env: dict[str, str], state: Path) -> setup.Demo:
    urls = _urls()
    subprocess.run(
        [*CLI, "demo", "setup", "--state", str(state), "--site", urls.site],
        env={
            **env,
            **{f"DEMO_{name.upper()}_URL": getattr(urls, name) for name in PORTS},
        },
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    demo = setup.Demo.load(state)
    assert demo is not None
    return demo


async def one_run(bootstrap: str, people: int, seed: int) -> dict[str, Any]:
    topics = Topics(f"bsy{uuid.uuid4().hex[:8]}")
    await ensure_topics(bootstrap, topics, partitions=6, replication_factor=1)
    database = await harness.fresh_database("leadflow_bench_system")
    messages = simulation.simulate(people, days=30, seed=seed).messages
    with ExitStack() as stack, tempfile.TemporaryDirectory() as home:
        smtp, _ = stack.enter_context(smtp_server())
        env = {"DATABASE_URL": database, "NURTURE_SMTP_PORT": str(smtp.port)}
        procs = {
            name: stack.enter_context(service(name, PORTS[name], topics, **env))
            for name in SERVICES
        }
        environ = {**os.environ, "LEADFLOW_TOPIC_PREFIX": topics.prefix, **env}
        demo = await asyncio.to_thread(_demo, environ, Path(home) / "demo.json")
        idle = {name: _rss_kib(p.pid, "VmRSS") / 1024 for name, p in procs.items()}
        start = time.perf_counter()
        sent = await asyncio.to_thread(
            sending.send_to_ingest, _urls().ingest, demo.write_key, messages
        )
        accepted = time.perf_counter() - start
        await _scored(topics.touchpoints, sent)
        scored = time.perf_counter() - start
        final = await asyncio.to_thread(
            traffic.watch, demo, _urls(), days=30, seconds=180, say=lambda _: None, every=1
        )
        settled = time.perf_counter() - start
        peak = {name: _rss_kib(p.pid, "VmHWM") / 1024 for name, p in procs.items()}
    return {
        "people": people,
        "events": sent,
        "ingest_accepted_s": round(accepted, 2),
        "scoring_applied_s": round(scored, 2),
        "settled_s": round(settled, 2),
        "funnel": final["stages"],
        "emails_sent": final["emails_sent"],
        "idle_rss_mib": {k: round(v, 1) for k, v in idle.items()},
        "peak_rss_mib": {k: round(v, 1) for k, v in peak.items()},
    }


async def _scored(topic: str, n: int) -> None:
    while True:
        if applied(PORTS["scoring"], f'topic="{topic}"') >= n:
            return
        await asyncio.sleep(0.1)


async def run(
    bootstrap: str, repeats: int, people: int = 2000
) -> tuple[list[Figure], dict[str, Any]]:
    runs = [await one_run(bootstrap, people, seed=11 + i) for i in range(repeats)]
    events = runs[0]["events"]
    figures = [
        Figure(
            f"system: {events} demo events scored",
            "events/s",
            statistics.median(r["events"] / r["scoring_applied_s"] for r in runs),
            "same events accepted by ingest",
            statistics.median(r["events"] / r["ingest_accepted_s"] for r in runs),
            repeats,
        )
    ]
    for name in SERVICES:
        figures.append(
            Figure(
                f"{name} peak memory (demo load)",
                "MiB",
                statistics.median(r["peak_rss_mib"][name] for r in runs),
                "same process, idle",
                statistics.median(r["idle_rss_mib"][name] for r in runs),
                repeats,
            )
        )
    return figures, {"runs": runs}
