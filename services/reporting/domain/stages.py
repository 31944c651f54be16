"""The funnel: the lifecycle stages in order, the two ways out of it, and what a lead's stage
entries mean for its row (when it reached each stage, its deal amounts).

A lead reached a stage when it entered that stage or any later one (a deal won straight from
`lead` counts as having reached mql, sql and opportunity too: scoring does not enter skipped
stages, see docs/decisions/0007). The time it reached a stage is the first of those. Every
rule takes the earliest time (or the amount of the earliest entry), so the order of events
does not matter and a replay changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from shared.events import STAGES

# STAGES lists the funnel in order, then the stages that leave it.
FUNNEL = STAGES[: STAGES.index("customer") + 1]
LOST = STAGES[len(FUNNEL) :]
# The conversions attribution credits and velocity times.
CONVERSIONS = ("mql", "sql", "customer")

STAGE_COLUMNS = [f"{s}_at" for s in FUNNEL + LOST]
# A lead row's columns a stage entry sets (the rest of the row comes from keys and touches).
ROW_COLUMNS = [
    *STAGE_COLUMNS,
    "won_at",
    "won_amount",
    "opportunity_entered_at",
    "opportunity_amount",
]
TIME_COLUMNS = [*STAGE_COLUMNS, "won_at", "opportunity_entered_at"]
EMPTY_ROW: Mapping[str, Any] = dict.fromkeys(ROW_COLUMNS)

LeadRef = tuple[str, str]  # (workspace, lead)
Move = tuple[str, str, str, datetime, float | None]  # workspace, lead, stage, at, amount


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


def first_entries(
    moves: Iterable[Move],
) -> dict[tuple[str, str, str], tuple[datetime, float | None]]:
    """(workspace, lead, stage) -> the earliest entry's time and amount."""
    first: dict[tuple[str, str, str], tuple[datetime, float | None]] = {}
    for ws, lead, stage, at, amount in moves:
        seen = first.get((ws, lead, stage))
        if seen is None or at < seen[0]:
            first[(ws, lead, stage)] = (at, amount)
    return first


def lead_rows(
    first: Mapping[tuple[str, str, str], tuple[datetime, float | None]],
) -> dict[LeadRef, dict[str, Any]]:
    """What first stage entries mean for each lead's row: entering a funnel stage reaches
    the ones before it (earliest time wins), a lost stage is kept as is, and entering
    customer or opportunity carries the deal's amount."""
    rows: dict[LeadRef, dict[str, Any]] = {}
    for (ws, lead, stage), (at, amount) in first.items():
        row = rows.setdefault((ws, lead), {"workspace_id": ws, "lead_id": lead, **EMPTY_ROW})
        if stage in FUNNEL:
            for earlier in FUNNEL[: FUNNEL.index(stage) + 1]:
                column = f"{earlier}_at"
                row[column] = at if row[column] is None else min(row[column], at)
        elif stage in LOST:
            row[f"{stage}_at"] = at
        if stage == "customer":
            row["won_at"], row["won_amount"] = at, amount
        if stage == "opportunity":
            row["opportunity_entered_at"], row["opportunity_amount"] = at, amount
    return rows
