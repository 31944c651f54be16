"""The funnel: how many leads reached each lifecycle stage in a period, and where they leak.

A lead reached a stage when it entered that stage or any later one (a deal won straight
from `lead` counts as having reached mql, sql and opportunity too: scoring does not enter
skipped stages, see docs/decisions/0007). The time it reached a stage is the first of those.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models import stage_entries
from shared.db import UnitOfWork
from shared.events import Envelope

FUNNEL = ("subscriber", "lead", "mql", "sql", "opportunity", "customer")


def reached(entries: Mapping[str, datetime]) -> dict[str, datetime]:
    """stage -> when a lead with these first entries reached it (see the module's doc)."""
    out: dict[str, datetime] = {}
    first_later: datetime | None = None
    for stage in reversed(FUNNEL):
        at = entries.get(stage)
        if at is not None and (first_later is None or at < first_later):
            first_later = at
        if first_later is not None:
            out[stage] = first_later
    return out


async def apply_lead_events(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
    """Keep each lead's first entry into each stage (idempotent: replays change nothing)."""
    rows = [
        {
            "workspace_id": e.workspace_id,
            "lead_id": str(e.payload["lead_id"]),
            "stage": str(e.payload["to_stage"]),
            "entered_at": e.occurred_at,
        }
        for e in await uow.claim_batch(envelopes)
        if e.type == "lead.lifecycle_changed" and e.payload.get("to_stage")
    ]
    if rows:
        stmt = insert(stage_entries)
        await uow.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[
                    stage_entries.c.workspace_id,
                    stage_entries.c.lead_id,
                    stage_entries.c.stage,
                ],
                set_={
                    "entered_at": func.least(stage_entries.c.entered_at, stmt.excluded.entered_at)
                },
            ),
            rows,
        )


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, aware
    end: datetime  # exclusive, aware

    @classmethod
    def of_days(cls, first: date, last: date, zone: str) -> Period:
        """From the start of `first` to the end of `last`, local days in `zone`."""
        tz = ZoneInfo(zone)
        start = datetime.combine(first, time(), tz)
        end = datetime.combine(date.fromordinal(last.toordinal() + 1), time(), tz)
        return cls(start, end)


async def funnel(session: AsyncSession, workspace_id: str, period: Period) -> dict[str, Any]:
    counts = []
    for i in range(len(FUNNEL)):
        first = (
            select(func.min(stage_entries.c.entered_at).label("at"))
            .where(
                stage_entries.c.workspace_id == workspace_id,
                stage_entries.c.stage.in_(FUNNEL[i:]),
            )
            .group_by(stage_entries.c.lead_id)
            .subquery()
        )
        n = await session.scalar(
            select(func.count()).where(first.c.at >= period.start, first.c.at < period.end)
        )
        counts.append(int(n or 0))
    return shape(counts)


def shape(counts: list[int]) -> dict[str, Any]:
    """Counts per funnel stage -> rows with conversions, and the largest drop-off."""
    rows: list[dict[str, Any]] = []
    conversions: list[float | None] = []
    for i, (stage, n) in enumerate(zip(FUNNEL, counts, strict=True)):
        previous = counts[i - 1] if i else None
        conversions.append(n / previous if previous else None)
        rows.append(
            {
                "stage": stage,
                "reached": n,
                "conversion_from_previous": round(n / previous, 4) if previous else None,
                "conversion_from_top": round(n / counts[0], 4) if counts[0] else None,
            }
        )
    drops = [
        (1 - conversion, FUNNEL[i - 1], FUNNEL[i])
        for i, conversion in enumerate(conversions)
        if conversion is not None
    ]
    worst = max(drops, default=None)
    return {
        "stages": rows,
        "largest_drop_off": (
            {"from": worst[1], "to": worst[2], "lost_share": round(worst[0], 4)} if worst else None
        ),
    }
