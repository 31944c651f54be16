"""How the reports' rows, notes and columns come out of reporting's JSON (and nurture's
sequence names): rows in, rows out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from services.console.domain.report_options import (
    ATTRIBUTION_BY,
    ATTRIBUTION_MODEL,
    COHORT,
    COHORT_STAGE,
)

Columns = tuple[tuple[str, str], ...]  # (field, heading) for the table under the chart


def drop_off_note(data: dict[str, Any]) -> str:
    worst = data.get("largest_drop_off")
    if not worst:
        return "No drop-off to show in this period."
    return (
        f"Largest drop-off: {worst['from']} → {worst['to']}, "
        f"{worst['lost_share'] * 100:.0f}% of leads lost."
    )


def funnel_groups(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(str(g["group"]), g) for g in data.get("groups", [])]


def cohort_columns(picked: Mapping[str, str]) -> Columns:
    stage = picked.get("stage", COHORT_STAGE.default)
    return (
        ("cohort", "Cohort"),
        ("age", f"Age ({picked.get('cohort', COHORT.default)}s)"),
        ("leads", "Leads"),
        (f"reached_{stage}", f"Reached {stage}"),
        (f"share_{stage}", f"Share reached {stage}"),
    )


def forecast_note(data: dict[str, Any]) -> str:
    start, end = str(data.get("horizon_start", ""))[:10], str(data.get("horizon_end", ""))[:10]
    revenue = next((r for r in data.get("rows", []) if r["measure"] == "revenue"), None)
    money = (
        "no revenue expected (no sale in the period to price it)"
        if not revenue or revenue.get("expected") is None
        else f"expected revenue {float(revenue['expected']):,.2f}"
    )
    return f"Next period, {start} to {end}: {money}."


ATTRIBUTION_STAGES = ("mql", "sql", "customer")


def attribution_rows(data: dict[str, Any], picked: Mapping[str, str]) -> list[dict[str, Any]]:
    """The credit rows of the picked model and dimension."""
    model = picked.get("model", ATTRIBUTION_MODEL.default)
    by = picked.get("credit_by", ATTRIBUTION_BY.default)
    return [r for r in data["rows"] if r["model"] == model and r["dimension"] == by]


def attribution_pivot(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per source (or campaign) with its share of each stage's conversions."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        out.setdefault(r["value"], {"value": r["value"]})[r["stage"]] = r["share"]
    return sorted(out.values(), key=lambda r: (-(r.get("mql") or 0), r["value"]))


def revenue_rows(data: dict[str, Any], picked: Mapping[str, str]) -> list[dict[str, Any]]:
    return [r for r in data["rows"] if r["dimension"] == picked.get("revenue_by", "source")]


def name_funnel_groups(data: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """A funnel broken down by sequence, its groups named as the marketer named them."""
    groups = [{**g, "group": names.get(g["group"], g["group"])} for g in data["groups"]]
    return {**data, "groups": groups}


def by_sequence(data: Mapping[str, Any]) -> bool:
    return data.get("breakdown") == "sequence"


def name_sequence_rows(data: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """Nurture's rows with each sequence's name (its id when nurture cannot say)."""
    rows = [{**r, "sequence": names.get(r["sequence_id"], r["sequence_id"])} for r in data["rows"]]
    return {**data, "rows": rows}


def volume_days(data: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(date, touchpoints, new leads) for every day of the period, days without any at 0."""
    touches: dict[str, int] = {}
    leads: dict[str, int] = {}
    for r in data["rows"]:
        bucket = touches if r["measure"] == "touchpoints" else leads
        bucket[r["date"]] = bucket.get(r["date"], 0) + int(r["count"])
    first, last = date.fromisoformat(str(data["start"])), date.fromisoformat(str(data["end"]))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [
        (d.isoformat(), touches.get(d.isoformat(), 0), leads.get(d.isoformat(), 0)) for d in days
    ]
