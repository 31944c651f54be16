"""Velocity: how long leads spend in each stage, and from first touch to MQL, SQL and
customer (the sales cycle), as median, p75 and p90 in days.

Counted for the leads that reached the later stage within the period (reached as in
domain/stages.py: entering a later stage counts, and a skipped stage takes no time). First
touch here is the first stage entry. Quantiles interpolate linearly between order
statistics (PostgreSQL's percentile_cont, numpy's default)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from services.reporting.domain.stages import CONVERSIONS, FUNNEL


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default, 'linear')."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def measures() -> list[tuple[str, str, str]]:
    """(name, from column, to column): days from one to the other, counted when `to` falls
    in the period."""
    out = [(f"time_in_{a}", f"{a}_at", f"{b}_at") for a, b in itertools.pairwise(FUNNEL)]
    return out + [(f"first_touch_to_{m}", "subscriber_at", f"{m}_at") for m in CONVERSIONS]


MEASURES = measures()


def velocity_rows(figures: Sequence[tuple[int, Sequence[float] | None]]) -> list[dict[str, Any]]:
    """Per measure (MEASURES' order), from its (leads counted, [median, p75, p90] days)."""
    out = []
    for (name, _, _), (n, quantiles) in zip(MEASURES, figures, strict=True):
        median: float | None = None
        p75: float | None = None
        p90: float | None = None
        if n and quantiles is not None:
            median, p75, p90 = (round(float(q), 3) for q in quantiles)
        out.append(
            {"measure": name, "leads": n, "median_days": median, "p75_days": p75, "p90_days": p90}
        )
    return out
