"""Attribution: which sources and campaigns get the credit for the leads that reached MQL,
SQL and customer in the period.

- first_touch: all the credit to the lead's first touch (its UTM values; `(none)` for a
  direct first touch, `(unknown)` when reporting saw no touch of the lead);
- last_touch: all of it to the last touch with a UTM source at or before the conversion;
- linear: shared equally by every touch with a UTM source at or before the conversion.
A lead with no UTM touch before converting gives its last-touch and linear credit to `(none)`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.funnel import LIVE
from services.reporting.period import NO_TOUCH, NO_VALUE, Period, rate

STAGES = ("mql", "sql", "customer")
MODELS = ("first_touch", "last_touch", "linear")
DIMENSIONS = ("source", "campaign")


@dataclass(frozen=True)
class Touch:
    at: datetime
    id: str
    source: str
    campaign: str | None


@dataclass
class Conversion:
    stage: str
    first: dict[str, str]  # dimension -> the first touch's label
    touches: list[Touch]  # UTM touches at or before the conversion


def credit(conversions: Iterable[Conversion]) -> list[dict[str, Any]]:
    """Rows (stage, model, dimension, value, credit, share) from each lead's touches."""
    credits: dict[tuple[str, str, str, str], float] = defaultdict(float)
    converted: dict[str, int] = defaultdict(int)
    for c in conversions:
        converted[c.stage] += 1
        ordered = sorted(c.touches, key=lambda t: (t.at, t.id))
        for dim in DIMENSIONS:
            credits[(c.stage, "first_touch", dim, c.first[dim])] += 1
            if not ordered:
                credits[(c.stage, "last_touch", dim, NO_VALUE)] += 1
                credits[(c.stage, "linear", dim, NO_VALUE)] += 1
                continue
            credits[(c.stage, "last_touch", dim, _label(ordered[-1], dim))] += 1
            for t in ordered:
                credits[(c.stage, "linear", dim, _label(t, dim))] += 1 / len(ordered)
    order = {s: i for i, s in enumerate(STAGES)} | {m: i for i, m in enumerate(MODELS)}
    return [
        {
            "stage": stage,
            "model": model,
            "dimension": dim,
            "value": value,
            "credit": round(amount, 4),
            "share": rate(amount, converted[stage]),
        }
        for (stage, model, dim, value), amount in sorted(
            credits.items(), key=lambda kv: (order[kv[0][0]], order[kv[0][1]], kv[0][2], kv[0][3])
        )
    ]


def _label(t: Touch, dimension: str) -> str:
    value = t.source if dimension == "source" else t.campaign
    return value or NO_VALUE


async def attribution(
    session: AsyncSession, workspace_id: str, period: Period
) -> list[dict[str, Any]]:
    converting = " UNION ALL ".join(
        f"SELECT '{s}' AS stage, l.lead_id, l.{s}_at AS at, l.first_touch_at, l.source,"
        f" l.campaign FROM reporting.leads l WHERE {LIVE}"
        f" AND l.{s}_at >= :start AND l.{s}_at < :end"
        for s in STAGES
    )
    rows = await session.execute(
        text(
            f"SELECT c.stage, c.lead_id, c.first_touch_at, c.source, c.campaign,"
            f" t.at, t.id, t.source, t.campaign FROM ({converting}) c"
            " LEFT JOIN reporting.lead_keys k"
            " ON k.workspace_id = :ws AND k.lead_id = c.lead_id"
            " LEFT JOIN reporting.touches t ON t.workspace_id = :ws AND t.key = k.key"
            " AND t.source IS NOT NULL AND t.at <= c.at"
        ),
        {"ws": workspace_id, "start": period.start, "end": period.end},
    )
    found: dict[tuple[str, str], Conversion] = {}
    for stage, lead, first_at, source, campaign, at, tid, t_source, t_campaign in rows:
        c = found.get((stage, lead))
        if c is None:
            first = {
                "source": NO_TOUCH if first_at is None else source or NO_VALUE,
                "campaign": NO_TOUCH if first_at is None else campaign or NO_VALUE,
            }
            c = found[(stage, lead)] = Conversion(stage, first, [])
        if at is not None:
            c.touches.append(Touch(at, str(tid), t_source, t_campaign))
    return credit(found.values())
