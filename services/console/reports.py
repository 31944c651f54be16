"""The reports the funnel page shows. Each is one entry: where reporting serves it, how its
rows come out of the JSON, its chart and its table's columns. Adding a report (cohorts,
forecast, breakdowns) is adding an entry here; the page, the date picker and the CSV
download pick it up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from services.console import charts


@dataclass(frozen=True)
class Report:
    key: str
    title: str
    path: str  # on the reporting service; takes start, end, tz (and format=csv)
    rows: Callable[[dict[str, Any]], list[dict[str, Any]]]
    chart: Callable[[dict[str, Any]], Markup]
    columns: tuple[tuple[str, str], ...]  # (field, heading) for the table under the chart
    note: Callable[[dict[str, Any]], str] = lambda _: ""


def _drop_off_note(data: dict[str, Any]) -> str:
    worst = data.get("largest_drop_off")
    if not worst:
        return "No drop-off to show in this period."
    return (
        f"Largest drop-off: {worst['from']} → {worst['to']}, "
        f"{worst['lost_share'] * 100:.0f}% of leads lost."
    )


REPORTS: tuple[Report, ...] = (
    Report(
        key="funnel",
        title="Funnel",
        path="/v1/funnel",
        rows=lambda data: list(data["stages"]),
        chart=lambda data: charts.funnel(data["stages"], data.get("largest_drop_off")),
        columns=(
            ("stage", "Stage"),
            ("reached", "Leads reached"),
            ("conversion_from_previous", "From previous"),
            ("conversion_from_top", "From top"),
        ),
        note=_drop_off_note,
    ),
    Report(
        key="velocity",
        title="Velocity",
        path="/v1/velocity",
        rows=lambda data: list(data["measures"]),
        chart=lambda data: charts.velocity(data["measures"]),
        columns=(
            ("measure", "Measure"),
            ("leads", "Leads"),
            ("median_days", "Median (days)"),
            ("p75_days", "75th pct (days)"),
            ("p90_days", "90th pct (days)"),
        ),
    ),
)
BY_KEY = {r.key: r for r in REPORTS}
