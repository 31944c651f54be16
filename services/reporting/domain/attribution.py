"""Attribution: which sources and campaigns get the credit for the leads that reached MQL,
SQL and customer in the period.

- first_touch: all the credit to the lead's first touch (its UTM values; `(none)` for a
  direct first touch, `(unknown)` when reporting saw no touch of the lead);
- last_touch: all of it to the last touch with a UTM source at or before the conversion;
- linear: shared equally by every touch with a UTM source at or before the conversion.
A lead with no UTM touch before converting gives its last-touch and linear credit to `(none)`.

The credit is kept per lead and conversion (store/projections/credits.py); the report sums
it per stage and value (store/reports/attribution.py) and `credit_rows` shapes the sums.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from services.reporting.domain.period import rate
from services.reporting.domain.stages import CONVERSIONS

MODELS = ("first_touch", "last_touch", "linear")
DIMENSIONS = ("source", "campaign")
# The grouping sets summed, in the order of their `grouping(...)` flags.
GROUPED_BY = ("first_source", "first_campaign", "source", "campaign")


class CreditSum(NamedTuple):
    """One grouping set's sum of the credit rows of a stage: `grouped` are the flags of
    GROUPED_BY (true: not grouped by it), `values` its values, `last` the rows that are a
    lead's last touch, `shares` their linear shares."""

    stage: str
    grouped: tuple[bool, bool, bool, bool]
    values: tuple[str | None, str | None, str | None, str | None]
    last: int
    shares: float


def credit_rows(sums: Iterable[CreditSum]) -> list[dict[str, Any]]:
    """Rows (stage, model, dimension, value, credit, share). Each converting lead has exactly
    one `last` row per stage (its last UTM touch, or its `(none)` row): counted, they give
    the converting leads and first- and last-touch credit; linear credit sums the shares."""
    credits: dict[tuple[str, str, str, str | None], float] = defaultdict(float)
    converted: dict[str, int] = defaultdict(int)
    for s in sums:
        by = [i for i, g in enumerate(s.grouped) if not g]
        if not by:
            converted[s.stage] = int(s.last)
            continue
        dim, value = DIMENSIONS[by[0] % 2], s.values[by[0]]
        if by[0] < 2:
            credits[(s.stage, "first_touch", dim, value)] += s.last
            continue
        if s.last:  # a value that is some lead's last touch
            credits[(s.stage, "last_touch", dim, value)] += s.last
        credits[(s.stage, "linear", dim, value)] += float(s.shares)
    order = {s: i for i, s in enumerate(CONVERSIONS)} | {m: i for i, m in enumerate(MODELS)}
    ordered = sorted(
        credits.items(), key=lambda kv: (order[kv[0][0]], order[kv[0][1]], kv[0][2], kv[0][3])
    )
    return [
        {
            "stage": stage,
            "model": model,
            "dimension": dim,
            "value": value,
            "credit": round(amount, 4),
            "share": rate(amount, converted[stage]),
        }
        for (stage, model, dim, value), amount in ordered
    ]
