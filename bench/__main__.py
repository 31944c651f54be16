"""`make bench`: runs every benchmark, prints a table, writes bench/results.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import foundation, ingest, nurture, reporting, scoring, summary, system
from bench.harness import Figure, table
from shared.bus import ensure_topics
from shared.db import create_engine
from shared.events import Topics


async def main(
    n: int, repeats: int, seconds: int, only: str | None, reporting_scale: float = 1.0
) -> tuple[list[Figure], dict[str, object]]:
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    engine = create_engine(os.environ["DATABASE_URL"])
    topics = Topics("bench")
    await ensure_topics(bootstrap, topics, partitions=6, replication_factor=1)
    figures: list[Figure] = []
    details: dict[str, object] = {}

    async def foundation_part() -> tuple[list[Figure], dict[str, Any]]:
        return [
            await foundation.codec(n, repeats),
            await foundation.publishing(bootstrap, topics, n, repeats),
            await foundation.consuming(bootstrap, engine, n // 10, repeats, batch=False),
            await foundation.consuming(bootstrap, engine, n, repeats, batch=True),
            await foundation.relaying(bootstrap, engine, topics, n, repeats),
        ], {}

    parts: dict[str, Callable[[], Awaitable[tuple[list[Figure], Any]]]] = {
        "foundation": foundation_part,
        "ingest": lambda: ingest.run(bootstrap, repeats, seconds),
        "scoring": lambda: scoring.run(bootstrap, repeats, seconds),
        "nurture": lambda: nurture.run(repeats),
        "reporting": lambda: reporting.run(bootstrap, repeats, reporting_scale),
        "system": lambda: system.run(bootstrap, repeats),
    }
    try:
        for name, part in parts.items():
            if only not in (None, name):
                continue
            # One part failing (a loaded machine, a time-out) does not lose the others'
            # figures: it is reported, and `make bench` fails at the end.
            try:
                part_figures, part_details = await part()
            except Exception as exc:
                traceback.print_exc()
                details[name] = {"error": repr(exc)}
                continue
            figures += part_figures
            if part_details:
                details[name] = part_details
        return figures, details
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8, help="length of each HTTP load run")
    parser.add_argument(
        "--only", choices=["foundation", "ingest", "scoring", "nurture", "reporting", "system"]
    )
    parser.add_argument(
        "--reporting-scale",
        type=float,
        default=1.0,
        help="reporting data: 1.0 = 500,000 leads and ~5,000,000 touchpoints",
    )
    args = parser.parse_args()
    figures, details = asyncio.run(
        main(args.events, args.repeats, args.seconds, args.only, args.reporting_scale)
    )
    print(table(figures))
    headline = summary.headline(figures, details)
    print("\n" + summary.render(headline))
    # A partial run (--only) does not overwrite the full run's file.
    out = Path(__file__).parent / (f"results-{args.only}.json" if args.only else "results.json")
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "events": args.events,
                "headline": headline,
                "figures": [f.as_dict() for f in figures],
                "details": details,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out}")
    failed = [k for k, v in details.items() if isinstance(v, dict) and "error" in v]
    if failed:
        print(f"FAILED parts (see above): {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)
