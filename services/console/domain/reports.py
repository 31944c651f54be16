"""The reports the funnel page shows. Each is one entry: where reporting serves it, the
pickers it takes besides the date range, how its rows come out of the JSON, its chart and
its table's columns. Adding a report is adding an entry here; the page, its pickers and the
CSV download pick it up."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

from services.console.domain import charts
from services.console.domain import report_rows as shape
from services.console.domain.report_options import (
    ATTRIBUTION_BY,
    ATTRIBUTION_MODEL,
    BREAKDOWN,
    COHORT,
    COHORT_STAGE,
    REVENUE_BY,
    Option,
)
from services.console.domain.report_rows import Columns

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Report:
    key: str
    title: str
    path: str  # on the reporting service; takes start, end, tz (and format=csv)
    # (data, picked options) -> the rows the table shows (a console-only picker may pick some)
    rows: Callable[[dict[str, Any], Mapping[str, str]], list[dict[str, Any]]]
    # (data, picked options, an id unique on the page) -> the chart
    chart: Callable[[dict[str, Any], Mapping[str, str], str], Markup]
    columns: Callable[[Mapping[str, str]], Columns]
    note: Callable[[dict[str, Any]], str] = lambda _: ""
    explain: Callable[[dict[str, Any]], str] = lambda _: ""  # how the figures are worked out
    options: tuple[Option, ...] = ()
    # A report broken down into groups: (group name, that group's data shaped as unbroken).
    groups: Callable[[dict[str, Any]], list[tuple[str, dict[str, Any]]]] | None = None
    # Reporting knows sequences by id: (data, nurture's id -> name) -> data with names,
    # asked for when `wants_names(data)` (the page calls nurture only then).
    name_sequences: Callable[[dict[str, Any], Mapping[str, str]], dict[str, Any]] | None = None
    wants_names: Callable[[Mapping[str, Any]], bool] = lambda _: True

    def picked(self, query: Mapping[str, str]) -> dict[str, str]:
        """This report's options as asked for in a query string (ValueError if one is bad)."""
        return {o.name: o.pick(query.get(o.name)) for o in self.options}

    def query(self, picked: Mapping[str, str]) -> dict[str, str]:
        """The options reporting takes, as picked: what the CSV link and the call carry."""
        out = {}
        for o in self.options:
            if not o.to_reporting or not picked.get(o.name):
                continue
            if o.only_with and picked.get(o.only_with[0]) != o.only_with[1]:
                continue
            out[o.name] = picked[o.name]
        return out


def _fixed(*columns: tuple[str, str]) -> Callable[[Mapping[str, str]], Columns]:
    return lambda _: columns


REPORTS: tuple[Report, ...] = (
    Report(
        key="funnel",
        title="Funnel",
        path="/v1/funnel",
        rows=lambda data, _: list(data["stages"]),
        chart=lambda data, _, key: charts.funnel(data["stages"], data.get("largest_drop_off"), key),
        columns=_fixed(
            ("stage", "Stage"),
            ("reached", "Leads reached"),
            ("conversion_from_previous", "From previous"),
            ("conversion_from_top", "From top"),
            ("converted", "Converted"),
            ("in_progress", "In progress"),
            ("lost", "Lost"),
        ),
        note=shape.drop_off_note,
        # The cohort unit matters to the funnel only when it is broken down by cohort.
        options=(BREAKDOWN, replace(COHORT, only_with=("breakdown", "cohort"))),
        groups=shape.funnel_groups,
        name_sequences=shape.name_funnel_groups,
        wants_names=shape.by_sequence,
    ),
    Report(
        key="velocity",
        title="Velocity",
        path="/v1/velocity",
        rows=lambda data, _: list(data["measures"]),
        chart=lambda data, _, key: charts.velocity(data["measures"], key),
        columns=_fixed(
            ("measure", "Measure"),
            ("leads", "Leads"),
            ("median_days", "Median (days)"),
            ("p75_days", "75th pct (days)"),
            ("p90_days", "90th pct (days)"),
        ),
    ),
    Report(
        key="cohorts",
        title="Cohorts",
        path="/v1/cohorts",
        rows=lambda data, _: list(data["rows"]),
        chart=lambda data, picked, key: charts.cohorts(
            data["rows"], picked["stage"], picked["cohort"], key
        ),
        columns=shape.cohort_columns,
        note=lambda data: (
            "Leads grouped by the "
            + str(data.get("cohort", "month"))
            + " of their first touch; each cell is the share of the cohort that had reached"
            " the stage by that age."
            if data.get("rows")
            else "No lead was first touched in this period."
        ),
        options=(COHORT, COHORT_STAGE),
    ),
    Report(
        key="forecast",
        title="Forecast",
        path="/v1/forecast",
        rows=lambda data, _: list(data["rows"]),
        chart=lambda data, _, key: charts.forecast(data["rows"], key),
        columns=_fixed(
            ("measure", "Expected"),
            ("from_stage", "From stage"),
            ("pipeline", "Open leads now"),
            ("observed_leads", "Reached from stage in period"),
            ("observed_conversion", "Converted"),
            ("median_days", "Median days"),
            ("expected", "Expected next period"),
        ),
        note=shape.forecast_note,
        explain=lambda data: str(data.get("method", "")),
    ),
    Report(
        key="attribution",
        title="Attribution",
        path="/v1/attribution",
        rows=shape.attribution_rows,
        chart=lambda data, picked, key: charts.grouped_bars(
            shape.attribution_pivot(shape.attribution_rows(data, picked)),
            label="value",
            series=[(s, f"{s.upper() if len(s) == 3 else s}s") for s in shape.ATTRIBUTION_STAGES],
            title="Attribution: each one's share of the MQLs, SQLs and customers of the period",
            key=key,
        ),
        columns=_fixed(
            ("stage", "Stage"),
            ("value", "Given credit"),
            ("credit", "Credit (leads)"),
            ("share", "Share"),
        ),
        note=lambda data: (
            "" if data["rows"] else "No lead reached MQL, SQL or customer in this period."
        ),
        options=(ATTRIBUTION_MODEL, ATTRIBUTION_BY),
    ),
    Report(
        key="revenue",
        title="Revenue and costs",
        path="/v1/revenue",
        rows=shape.revenue_rows,
        chart=lambda data, picked, key: charts.grouped_bars(
            shape.revenue_rows(data, picked),
            label="value",
            series=[("revenue", "Revenue"), ("cost", "Cost")],
            title="Revenue won and campaign cost in the period",
            key=key,
            money=True,
        ),
        columns=_fixed(
            ("value", "Group"),
            ("leads", "Leads"),
            ("mqls", "MQLs"),
            ("customers", "Customers"),
            ("revenue", "Revenue"),
            ("average_sale_value", "Average sale"),
            ("cost", "Cost"),
            ("cost_per_lead", "Per lead"),
            ("cost_per_mql", "Per MQL"),
            ("cost_per_customer", "Per customer"),
        ),
        options=(REVENUE_BY, COHORT),
    ),
    Report(
        key="nurture",
        title="Nurture",
        path="/v1/nurture",
        rows=lambda data, _: list(data["rows"]),
        chart=lambda data, _, key: charts.grouped_bars(
            [r for r in data["rows"] if not r["step_id"]],
            label="sequence",
            series=[("open_rate", "Opened"), ("click_rate", "Clicked"), ("goal_rate", "Goal")],
            title="Nurture: open, click and goal rates per sequence",
            key=key,
        ),
        columns=_fixed(
            ("sequence", "Sequence"),
            ("step_id", "Step"),
            ("variant_id", "Variant"),
            ("enrolled", "Enrolled"),
            ("sent", "Sent"),
            ("open_rate", "Open rate"),
            ("click_rate", "Click rate"),
            ("unsubscribe_rate", "Unsubscribed"),
            ("bounce_rate", "Bounced"),
            ("goal_rate", "Goal rate"),
        ),
        note=lambda data: "" if data["rows"] else "No email was sent in this period.",
        name_sequences=shape.name_sequence_rows,
    ),
    Report(
        key="volume",
        title="Volume",
        path="/v1/volume",
        rows=lambda data, _: list(data["rows"]),
        chart=lambda data, _, key: charts.daily_columns(
            shape.volume_days(data),
            title="Volume: touchpoints and new leads per day",
            names=("touchpoints", "new leads"),
            key=key,
        ),
        columns=_fixed(
            ("date", "Date"), ("measure", "Measure"), ("type", "Type"), ("count", "Count")
        ),
    ),
)
BY_KEY = {r.key: r for r in REPORTS}


def page_options() -> list[Option]:
    """Every picker the page shows, once each, in the order reports declare them."""
    seen: dict[str, Option] = {}
    for report in REPORTS:
        for option in report.options:
            seen.setdefault(option.name, option)
    return list(seen.values())


def period(start: str, end: str, today: date) -> tuple[str, str]:
    """The range asked for, or the last 30 days ending today."""
    return (
        start or (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        end or today.isoformat(),
    )


def csv_name(key: str, params: Mapping[str, str]) -> str:
    """leadflow-funnel-by-source-2026-01-01-to-2026-01-31.csv: the report and what it was
    asked for, so two downloads of one report do not look alike."""
    extra = [v for k, v in params.items() if k not in ("start", "end", "tz")]
    by = f"-by-{'-'.join(extra)}" if extra else ""
    return f"leadflow-{key}{by}-{params['start']}-to-{params['end']}.csv"


def section_head(
    report: Report, picked: Mapping[str, str], params: Mapping[str, str]
) -> dict[str, Any]:
    """A report's section before its data: its table's columns and its CSV link."""
    return {
        "report": report,
        "columns": report.columns(picked),
        "csv": f"/funnel/{report.key}.csv?{urlencode(params)}",
    }


def refused_section(head: Mapping[str, Any], message: str) -> dict[str, Any]:
    """The section of a report reporting refused (e.g. a bad time zone): why, no CSV."""
    return {**head, "error": message, "csv": None}


def _block(
    report: Report, data: dict[str, Any], picked: Mapping[str, str], key: str
) -> dict[str, Any]:
    return {
        "key": key,
        "chart": report.chart(data, picked, key),
        "rows": report.rows(data, picked),
        "note": report.note(data),
    }


def filled_section(
    report: Report,
    head: Mapping[str, Any],
    data: dict[str, Any],
    picked: Mapping[str, str],
    params: Mapping[str, str],
) -> dict[str, Any]:
    """The section with reporting's answer: a chart, table and note (one per group when
    the report is broken down), and how the figures are worked out."""
    section: dict[str, Any] = {**head, "explain": report.explain(data)}
    if report.groups is None or "groups" not in data:
        return section | _block(report, data, picked, report.key)
    section["groups"] = [
        {"name": name, **_block(report, part, picked, f"{report.key}-{i}")}
        for i, (name, part) in enumerate(report.groups(data))
    ]
    by = params.get("breakdown", "group")
    section["note"] = (
        f"{len(section['groups'])} groups by {by}."
        if section["groups"]
        else f"No lead reached a stage in this period (by {by})."
    )
    return section
