"""The funnel report's rules: how many leads reached each stage in a period, and where they
leak (what "reached" means: domain/stages.py).

Of the leads that reached a stage in the period, as of `as_of`: `converted` reached the next
stage; `lost` did not and were disqualified or recycled since, or have been in the stage
longer than its conversion window; `in_progress` are the others, still inside the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.reporting.domain.period import NO_VALUE, rate
from services.reporting.domain.stages import FUNNEL


def add_up(rows: Iterable[tuple[str | None, Sequence[Any]]]) -> dict[str, list[int]]:
    """Group label -> its flat counts, summed over the rows of the same label (a missing
    label is `(none)`). Flat: for each stage, the leads that reached it, then (but for the
    last stage) those of them that converted and those lost."""
    sums: dict[str, list[int]] = {}
    for label, values in rows:
        total = sums.setdefault(NO_VALUE if label is None else label, [0] * len(values))
        for i, n in enumerate(values):
            total[i] += int(n)
    return sums


def split(values: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
    """Flat counts -> (reached, converted, lost) per stage."""
    counts, converted, lost = [], [], []
    rest = list(values)
    for i in range(len(FUNNEL)):
        counts.append(rest.pop(0))
        if i + 1 < len(FUNNEL):
            converted.append(rest.pop(0))
            lost.append(rest.pop(0))
    return counts, converted, lost


def result(
    sums: Mapping[str, Sequence[int]], windows: Mapping[str, int], *, grouped: bool
) -> dict[str, Any]:
    """The report from each group's counts: groups with some lead, sorted by label; without
    a breakdown, the one group (or an empty funnel)."""
    groups = []
    for label in sorted(sums):
        counts, converted, lost = split(sums[label])
        if any(counts):
            groups.append((label, shape(counts, converted, lost, windows)))
    if not grouped:
        none = [0] * (len(FUNNEL) - 1)
        return groups[0][1] if groups else shape([0] * len(FUNNEL), none, none, windows)
    return {"groups": [{"group": g, **shaped} for g, shaped in groups]}


def shape(
    counts: list[int],
    converted: list[int] | None = None,
    lost: list[int] | None = None,
    windows: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Counts per funnel stage -> rows with conversions, and the largest drop-off."""
    rows: list[dict[str, Any]] = []
    conversions: list[float | None] = []
    for i, (stage, n) in enumerate(zip(FUNNEL, counts, strict=True)):
        previous = counts[i - 1] if i else None
        conversions.append(n / previous if previous else None)
        last = i + 1 == len(FUNNEL)
        done = None if last or converted is None else converted[i]
        gone = None if last or lost is None else lost[i]
        rows.append(
            {
                "stage": stage,
                "reached": n,
                "conversion_from_previous": rate(n, previous or 0),
                "conversion_from_top": rate(n, counts[0]),
                "converted": done,
                "in_progress": None if done is None or gone is None else n - done - gone,
                "lost": gone,
                "window_days": None if last or windows is None else windows[stage],
            }
        )
    return {"stages": rows, "largest_drop_off": largest_drop_off(conversions)}


def largest_drop_off(conversions: Sequence[float | None]) -> dict[str, Any] | None:
    """The step losing the largest share (conversion from the previous stage per stage)."""
    drops = [
        (1 - conversion, FUNNEL[i - 1], FUNNEL[i])
        for i, conversion in enumerate(conversions)
        if conversion is not None
    ]
    # On a tie, the earliest step in the funnel (max keeps the first of equal keys).
    worst = max(drops, key=lambda d: d[0], default=None)
    if worst is None:
        return None
    return {"from": worst[1], "to": worst[2], "lost_share": round(worst[0], 4)}
