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
COHORT_STAGES = ("lead", "mql", "sql", "opportunity", "customer")  # subscriber is every lead


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _svg(key: str, height: int, title: str, desc: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{key}-title {key}-desc" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{key}-title">{escape(title)}</title>'
        f'<desc id="{key}-desc">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def _muted(text: str) -> str:
    """A chart's only line when there is nothing to draw."""
    return f'<text class="value muted" x="0" y="{BAR * 0.68:.0f}">{escape(text)}</text>'


def funnel(
    rows: Sequence[Mapping[str, Any]], drop_off: Mapping[str, Any] | None, key: str = "funnel"
) -> Markup:
    """Bars for leads reaching each stage, with the conversion from the previous stage; the
    largest drop-off is marked."""
    top = max((int(r["reached"]) for r in rows), default=0) or 1
    span = WIDTH - LABEL - 170  # room for "1234 · 100% of previous"
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
    return _svg(key, height, "Funnel: leads reaching each stage", desc, body)


def velocity(rows: Sequence[Mapping[str, Any]], key: str = "velocity") -> Markup:
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
    return _svg(key, height, "Velocity: median days (ticks: 75th and 90th percentile)", desc, body)


def _shade(share: float) -> str:
    """Fill opacity for a share (0-1): never fully blank, so an empty cell still shows."""
    return f"{0.06 + 0.94 * max(0.0, min(1.0, share)):.2f}"


def _cohort_cells(
    cohort: str,
    cells: Mapping[int, Mapping[str, Any]],
    stage: str,
    geometry: tuple[int, float, int, int],
) -> list[str]:
    """A cohort's row of the heat map: its label, then a shaded cell per age."""
    label, cell, y, row_h = geometry
    leads = int(next(iter(cells.values()))["leads"])
    body = [
        f'<text class="label" x="{label - 8}" y="{y + row_h * 0.64:.0f}" text-anchor="end">'
        f"{escape(cohort)} · {leads} lead{'s' if leads != 1 else ''}</text>"
    ]
    for age, row in sorted(cells.items()):
        share = row.get(f"share_{stage}")
        value = float(share) if share is not None else 0.0
        x = label + age * cell
        dark = " on-dark" if value >= 0.5 else ""
        reached = row.get(f"reached_{stage}", 0)
        body.append(
            f"<g><title>{escape(cohort)}, age {age}: {_pct(share)} reached {escape(stage)}"
            f" ({reached} of {leads})</title>"
            f'<rect class="cell" x="{x + 1:.1f}" y="{y + 1}" width="{cell - 2:.1f}"'
            f' height="{row_h - 2}" fill-opacity="{_shade(value)}"/>'
        )
        if cell >= 38:
            body.append(
                f'<text class="cell-text{dark}" x="{x + cell / 2:.1f}"'
                f' y="{y + row_h * 0.64:.0f}" text-anchor="middle">{_pct(share)}</text>'
            )
        body.append("</g>")
    return body


def _shade_legend(label: int, y: int) -> list[str]:
    body = [f'<text class="axis" x="{label - 8}" y="{y + 14}" text-anchor="end">share</text>']
    for j, share in enumerate((0.0, 0.25, 0.5, 0.75, 1.0)):
        x = label + j * 56
        body.append(
            f'<rect class="cell" x="{x}" y="{y}" width="20" height="18"'
            f' fill-opacity="{_shade(share)}"/>'
            f'<text class="axis" x="{x + 24}" y="{y + 14}">{_pct(share)}</text>'
        )
    return body


def cohorts(
    rows: Sequence[Mapping[str, Any]], stage: str, unit: str, key: str = "cohorts"
) -> Markup:
    """A heat map: one row per cohort, one column per age (weeks or months since the
    cohort's first day); each cell's shade is the share of the cohort that had reached
    `stage` by that age. Each cell has its own <title>; the table beside it has every figure."""
    by_cohort: dict[str, dict[int, Mapping[str, Any]]] = {}
    for row in rows:
        by_cohort.setdefault(str(row["cohort"]), {})[int(row["age"])] = row
    title = f"Cohorts: share of each {unit}'s leads that reached {stage}, by age in {unit}s"
    if not by_cohort:
        empty = "No cohorts in this period."
        return _svg(key, BAR, title, empty, [_muted(empty)])
    ages = max(max(c) for c in by_cohort.values()) + 1
    label, head, row_h = 190, 26, 28
    cell = min(60.0, (WIDTH - label) / ages)
    body = [
        f'<text class="label" x="{label - 8}" y="{head * 0.65:.0f}" text-anchor="end">'
        f"{escape(unit)} · age</text>"
    ]
    if cell >= 18:
        for age in range(ages):
            body.append(
                f'<text class="axis" x="{label + (age + 0.5) * cell:.1f}" y="{head * 0.65:.0f}"'
                f' text-anchor="middle">{age}</text>'
            )
    summary = []
    for i, cohort in enumerate(sorted(by_cohort)):
        cells = by_cohort[cohort]
        body += _cohort_cells(cohort, cells, stage, (label, cell, head + i * row_h, row_h))
        last, leads = max(cells), int(next(iter(cells.values()))["leads"])
        summary.append(
            f"{cohort} ({leads} leads): {_pct(cells[last].get(f'share_{stage}'))} by age {last}"
        )
    y = head + len(by_cohort) * row_h + 10
    body += _shade_legend(label, y)
    return _svg(key, y + 24, title, "; ".join(summary), body)


def forecast(rows: Sequence[Mapping[str, Any]], key: str = "forecast") -> Markup:
    """Per step, the leads open in its first stage now (light bar) and how many of them are
    expected to convert next period (dark bar, same scale); the revenue as a figure."""
    counted = [r for r in rows if r.get("pipeline") is not None]
    top = max((int(r["pipeline"]) for r in counted), default=0) or 1
    label = 170
    span = WIDTH - label - 160
    body: list[str] = []
    desc = []
    for i, row in enumerate(counted):
        y = i * (BAR + GAP)
        expected = float(row.get("expected") or 0)
        pipeline = int(row["pipeline"])
        open_w, expected_w = max(2.0, span * pipeline / top), max(2.0, span * expected / top)
        name = f"{row['measure'].upper() if len(row['measure']) == 3 else row['measure']}s"
        body.append(
            f'<text class="label" x="{label - 8}" y="{y + BAR * 0.68:.0f}" text-anchor="end">'
            f"{escape(name)}</text>"
            f'<rect class="bar-bg" x="{label}" y="{y}" width="{open_w:.1f}" height="{BAR}" rx="3"/>'
            f'<rect class="bar" x="{label}" y="{y + 6}" width="{expected_w:.1f}"'
            f' height="{BAR - 12}" rx="2"/>'
            f'<text class="value" x="{label + open_w + 6:.1f}"'
            f' y="{y + BAR * 0.68:.0f}">{expected:g} of {pipeline} open</text>'
        )
        desc.append(
            f"{name}: {expected:g} expected of {pipeline} leads open in {row['from_stage']}"
        )
    y = len(counted) * (BAR + GAP)
    revenue = next((r for r in rows if r.get("measure") == "revenue"), None)
    if revenue is not None:
        figure = revenue.get("expected")
        words = (
            "not known (no priced sale in the period)"
            if figure is None
            else f"{float(figure):,.2f}"
        )
        body.append(
            f'<text class="label" x="{label - 8}" y="{y + BAR * 0.68:.0f}" text-anchor="end">'
            f'Revenue</text><text class="value" x="{label}" y="{y + BAR * 0.68:.0f}">{words}</text>'
        )
        desc.append(f"revenue: {words}")
        y += BAR + GAP
    return _svg(
        key,
        max(y, BAR),
        "Forecast: expected conversions next period (light: leads open now)",
        "; ".join(desc),
        body,
    )


def grouped_bars(
    rows: Sequence[Mapping[str, Any]],
    *,
    label: str,
    series: Sequence[tuple[str, str]],
    title: str,
    key: str,
    money: bool = False,
) -> Markup:
    """One group of thin bars per row (one bar per series, `(field, name)`, all on one scale),
    with a legend; values are shares (0-1) or, with `money`, amounts."""

    def shown(value: Any) -> str:
        if value is None:
            return "-"
        return f"{float(value):,.2f}" if money else _pct(float(value))

    if not rows:
        return _svg(
            key, BAR, title, "Nothing to show in this period.", [_muted("Nothing to show.")]
        )
    top = max((float(r.get(f) or 0) for r in rows for f, _ in series), default=0) or 1
    name_w, thin = 170, 14
    span = WIDTH - name_w - 90
    body = []
    for j, (_, name) in enumerate(series):  # the legend
        x = name_w + j * 130
        body.append(
            f'<rect class="s{j}" x="{x}" y="4" width="14" height="14"/>'
            f'<text class="axis" x="{x + 20}" y="16">{escape(name)}</text>'
        )
    y = 30
    desc = []
    for row in rows:
        name = str(row.get(label) or "(all)")
        body.append(
            f'<text class="label" x="{name_w - 8}" y="{y + thin * len(series) / 2 + 5:.0f}"'
            f' text-anchor="end">{escape(name[:24])}</text>'
        )
        parts = []
        for j, (field, series_name) in enumerate(series):
            value = row.get(field)
            width = max(1.0, span * float(value or 0) / top)
            body.append(
                f'<rect class="s{j}" x="{name_w}" y="{y}" width="{width:.1f}" height="{thin - 2}"/>'
                f'<text class="axis" x="{name_w + width + 4:.1f}" y="{y + thin - 3}">'
                f"{shown(value)}</text>"
            )
            parts.append(f"{series_name} {shown(value)}")
            y += thin
        desc.append(f"{name}: {', '.join(parts)}")
        y += GAP
    return _svg(key, y, title, "; ".join(desc), body)


def daily_columns(
    days: Sequence[tuple[str, int, int]], *, title: str, names: tuple[str, str], key: str
) -> Markup:
    """A column per day (date, first, second): the first measure as a light column, the
    second as a dark one in front of it, on one scale; dates under every seventh day."""
    if not days:
        return _svg(
            key, BAR, title, "Nothing to show in this period.", [_muted("Nothing to show.")]
        )
    top = max(max(a, b) for _, a, b in days) or 1
    left, plot, base = 40, 200, 230
    step = (WIDTH - left) / len(days)
    body = [
        f'<text class="axis" x="{left - 6}" y="{base - plot + 10}" text-anchor="end">{top}</text>'
        f'<text class="axis" x="{left - 6}" y="{base}" text-anchor="end">0</text>'
        f'<line class="tick" x1="{left}" x2="{WIDTH}" y1="{base}" y2="{base}"/>'
    ]
    for j, name in enumerate(names):
        body.append(
            f'<rect class="{"bar-bg" if j == 0 else "bar"}" x="{left + j * 160}" y="{base + 30}"'
            f' width="14" height="14"/><text class="axis" x="{left + j * 160 + 20}"'
            f' y="{base + 42}">{escape(name)}</text>'
        )
    for i, (day, a, b) in enumerate(days):
        x = left + i * step
        w = max(1.0, step - 2)
        body.append(
            f"<g><title>{escape(day)}: {a} {escape(names[0])}, {b} {escape(names[1])}</title>"
            f'<rect class="bar-bg" x="{x + 1:.1f}" y="{base - plot * a / top:.1f}"'
            f' width="{w:.1f}" height="{plot * a / top:.1f}"/>'
            f'<rect class="bar" x="{x + 1 + w / 4:.1f}" y="{base - plot * b / top:.1f}"'
            f' width="{w / 2:.1f}" height="{plot * b / top:.1f}"/></g>'
        )
        if i % 7 == 0:
            body.append(
                f'<text class="axis" x="{x + 1:.1f}" y="{base + 16}">{escape(day[5:])}</text>'
            )
    desc = f"{len(days)} days, {sum(a for _, a, _ in days)} {names[0]}, "
    desc += f"{sum(b for _, _, b in days)} {names[1]}; busiest day {top}"
    return _svg(key, base + 50, title, desc, body)
