"""CPU per event of scoring's batch handler, for progress on a loaded machine.

Simulated touchpoints (encoded as on Kafka) are decoded and fed in batches through
`handlers.apply_touchpoints` against the PostgreSQL of DATABASE_URL (a fresh database of
its own). Reported per event: this process's CPU (time.process_time) split into decoding and
applying, and PostgreSQL's CPU (its processes' /proc times). Not part of `make bench`:

    DATABASE_URL=... .venv/bin/python -m bench.scoring_cpu [--people 3000] [--batch 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import harness
from bench.loadgen import ROOT
from services.ingest.domain.envelopes import envelopes_of
from services.scoring import handlers
from services.scoring.store import tables
from services.scoring.store.lead_cache import LeadCache
from services.scoring.workers.live_models import LiveModels
from shared.db import UnitOfWork, create_engine, create_session_factory
from shared.events import decode, encode
from shared.gc_tuning import tune_gc
from shared.settings import DEV_SECRET
from tools.simulation.simulate import simulate

TICKS = os.sysconf("SC_CLK_TCK")


def postgres_cpu(port: int) -> float:
    """CPU seconds of the PostgreSQL cluster listening on `port`: its postmaster (with the
    children it has reaped) and its live backends."""
    procs = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            args = stat.parent.joinpath("cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        procs[stat.parent.name] = (fields[1], args, sum(int(f) for f in fields[11:15]) / TICKS)
    master = next(pid for pid, (_, args, _) in procs.items() if _serves(args, port))
    return sum(cpu for pid, (ppid, _, cpu) in procs.items() if master in (pid, ppid))


def _serves(args: list[bytes], port: int) -> bool:
    """Is this the postmaster of a cluster configured with `port`?"""
    if b"-D" not in args or not args[0].endswith(b"postgres"):
        return False
    conf = Path(args[args.index(b"-D") + 1].decode(), "postgresql.conf")
    try:
        return re.search(rf"^port = {port}$", conf.read_text(), re.M) is not None
    except OSError:
        return False


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--cache", type=int, default=20_000, help="lead cache size, 0: none")
    parser.add_argument("--database", default="leadflow_scoring_cpu", help="(dropped first)")
    args = parser.parse_args()

    database = await harness.fresh_database(args.database)
    env = {**os.environ, "DATABASE_URL": database}
    migrate = [sys.executable, "-m", "services.cli", "migrate", "scoring"]
    await asyncio.to_thread(subprocess.run, migrate, env=env, cwd=ROOT, check=True)
    port = make_url(database).port or 5432
    # The same events every run (ids, times), so two runs' databases can be compared.
    messages = simulate(args.people, seed=args.seed, end=datetime(2026, 6, 1, tzinfo=UTC)).messages
    envelopes = envelopes_of(messages, "ws_scoring_cpu")
    wire = [encode(e) for e in envelopes]
    engine = create_engine(database)
    sessions = create_session_factory(engine)
    live = LiveModels(sessions, secret=DEV_SECRET)  # no registered model: the default
    await live.refresh()
    cache = LeadCache(args.cache) if args.cache else None  # as the service runs it
    tune_gc()
    decoding = applying = pg = 0.0
    start = time.perf_counter()
    for i in range(0, len(wire), args.batch):
        t0 = time.process_time()
        batch = [decode(v) for v in wire[i : i + args.batch]]
        t1 = time.process_time()
        pg0 = postgres_cpu(port)
        await handlers.apply_and_commit(
            UnitOfWork(sessions, inbox=tables.inbox, outbox=tables.outbox),
            batch,
            live,
            topic="leadflow.lead-events",
            secret="bench",
            cache=cache,
        )
        applying += time.process_time() - t1
        decoding += t1 - t0
        pg += postgres_cpu(port) - pg0
    wall = time.perf_counter() - start
    await engine.dispose()
    n = len(wire)
    print(
        f"events={n} decode={decoding / n * 1e6:.1f}us apply={applying / n * 1e6:.1f}us "
        f"own={(decoding + applying) / n * 1e6:.1f}us/event postgres={pg / n * 1e6:.1f}us/event "
        f"wall={wall:.1f}s" + (f" cache hits={cache.hits} misses={cache.misses}" if cache else "")
    )


if __name__ == "__main__":
    asyncio.run(main())
