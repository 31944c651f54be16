"""Volume: touchpoints by type, and new leads, per local day.

A new lead is one whose first stage entry (becoming a subscriber or anything later) falls
on that day. Touchpoints are counted from 15-minute buckets, exact for every time zone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def daily_rows(
    touches: Iterable[tuple[str, str, int]], new_leads: Iterable[tuple[str, int]]
) -> list[dict[str, Any]]:
    """Rows (date, measure, type, count) from (day, type, touches) and (day, new leads): by
    day, new leads first, then touchpoints by type."""
    rows = [
        {"date": day, "measure": "touchpoints", "type": kind, "count": int(n)}
        for day, kind, n in touches
    ]
    rows += [
        {"date": day, "measure": "new_leads", "type": "", "count": int(n)} for day, n in new_leads
    ]
    rows.sort(key=lambda r: (r["date"], r["measure"] != "new_leads", r["type"]))
    return rows
