"""Charts as inline SVG, drawn on the server: no script, no external library, readable by
screen readers (a <title>, a <desc>, and the same figures in a table beside each chart).

Pure: rows in, markup out. Each chart scales to its container (viewBox) so it fits a phone
as well as a laptop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH = 640
BAR = 28
GAP = 12
LABEL = 120


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _svg(key: str, height: int, title: str, desc: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{key}-title {key}-desc" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{key}-title">{escape(title)}</title>'
        f'<desc id="{key}-desc">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def funnel(rows: Sequence[Mapping[str, Any]], drop_off: Mapping[str, Any] | None) -> Markup:
    """Bars for leads reaching each stage, with the conversion from the previous stage; the
    largest drop-off is marked."""
    top = max((int(r["reached"]) for r in rows), default=0) or 1
    span = WIDTH - LABEL - 150
    body: list[str] = []
    worst_to = drop_off.get("to") if drop_off else None
    for i, row in enumerate(rows):
        y = i * (BAR + GAP)
        width = max(2.0, span * int(row["reached"]) / top)
        css = "bar bar-worst" if row["stage"] == worst_to else "bar"
        body.append(
            f'<text class="label" x="{LABEL - 8}" y="{y + BAR * 0.68:.0f}" text-anchor="end">'
            f"{escape(row['stage'])}</text>"
            f'<rect class="{css}" x="{LABEL}" y="{y}" width="{width:.1f}" height="{BAR}" rx="3"/>'
            f'<text class="value" x="{LABEL + width + 6:.1f}" y="{y + BAR * 0.68:.0f}">'
            f"{int(row['reached'])}"
            + (
                f" · {_pct(row.get('conversion_from_previous'))} of previous"
                if i and row.get("conversion_from_previous") is not None
                else ""
            )
            + "</text>"
        )
    height = max(len(rows) * (BAR + GAP), BAR)
    desc = ", ".join(f"{r['stage']}: {r['reached']}" for r in rows)
    if drop_off:
        desc += (
            f". Largest drop-off: {drop_off['from']} to {drop_off['to']}, "
            f"{_pct(drop_off.get('lost_share'))} lost"
        )
    return _svg("funnel", height, "Funnel: leads reaching each stage", desc, body)


def velocity(rows: Sequence[Mapping[str, Any]]) -> Markup:
    """Median days per measure as bars, with the 75th and 90th percentiles as ticks."""
    shown = [r for r in rows if r.get("median_days") is not None]
    longest = max((float(r.get("p90_days") or r["median_days"]) for r in shown), default=0) or 1
    label = 170
    span = WIDTH - label - 110
    body: list[str] = []
    for i, row in enumerate(rows):
        y = i * (BAR + GAP)
        name = str(row["measure"]).replace("_", " ")
        body.append(
            f'<text class="label" x="{label - 8}" y="{y + BAR * 0.68:.0f}" text-anchor="end">'
            f"{escape(name)}</text>"
        )
        if row.get("median_days") is None:
            body.append(
                f'<text class="value muted" x="{label}" y="{y + BAR * 0.68:.0f}">no leads</text>'
            )
            continue
        median = float(row["median_days"])
        width = max(2.0, span * median / longest)
        body.append(
            f'<rect class="bar" x="{label}" y="{y}" width="{width:.1f}" height="{BAR}" rx="3"/>'
        )
        for key in ("p75_days", "p90_days"):
            if row.get(key) is not None:
                x = label + span * float(row[key]) / longest
                body.append(
                    f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" '
                    f'y1="{y + 4}" y2="{y + BAR - 4}"/>'
                )
        far = label + span * float(row.get("p90_days") or median) / longest
        body.append(
            f'<text class="value" x="{max(far, label + width) + 6:.1f}" '
            f'y="{y + BAR * 0.68:.0f}">{median:.1f} d</text>'
        )
    height = max(len(rows) * (BAR + GAP), BAR)
    desc = ", ".join(
        f"{r['measure'].replace('_', ' ')}: median {r['median_days']} days" for r in shown
    )
    return _svg(
        "velocity", height, "Velocity: median days (ticks: 75th and 90th percentile)", desc, body
    )
