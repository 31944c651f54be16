"""Timing helpers: repeat, take the median, report beside a baseline from the same run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass


@dataclass
class Figure:
    name: str
    unit: str
    value: float
    baseline_name: str
    baseline: float
    runs: int

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio_to_baseline": round(self.ratio, 3)}


async def rate(n: int, run: Callable[[], Awaitable[None]], repeats: int) -> float:
    """Median items per second of `run` (which handles n items) over `repeats` runs."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        await run()
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


def table(figures: list[Figure]) -> str:
    head = f"{'benchmark':34} {'value':>12} {'unit':10} {'baseline':>12}  {'ratio':>6}  baseline is"
    lines = [head, "-" * len(head)]
    for f in figures:
        figures_ = f"{f.value:12,.0f} {f.unit:10} {f.baseline:12,.0f}  {f.ratio:6.2f}"
        lines.append(f"{f.name:34} {figures_}  {f.baseline_name}")
    return "\n".join(lines)


async def fresh_database(name: str) -> str:
    """Drop and create database `name` next to the configured one (a new deployment for
    one run: what an earlier run left must not blur the figures); its URL."""
    import os

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from shared.db import create_engine

    url = make_url(os.environ["DATABASE_URL"])
    admin = create_engine(url.render_as_string(False), pool_size=1)
    try:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'drop database if exists "{name}" with (force)'))
            await conn.execute(text(f'create database "{name}"'))
    finally:
        await admin.dispose()
    return url.set(database=name).render_as_string(False)
