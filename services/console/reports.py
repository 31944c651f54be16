"""The reports the funnel page shows. Each is one entry: where reporting serves it, the
pickers it takes besides the date range, how its rows come out of the JSON, its chart and
its table's columns. Adding a report is adding an entry here; the page, its pickers and the
CSV download pick it up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup

from services.console import charts
from services.console.client import Api, ApiError, Unreachable

Columns = tuple[tuple[str, str], ...]  # (field, heading) for the table under the chart


@dataclass(frozen=True)
class Option:
    """A picker beside the date range. `to_reporting=False` options only change what the
    console draws (the CSV, reporting's, is the same); `only_with` sends the option to
    reporting only while another option has a given value."""

    name: str
    label: str
    choices: tuple[tuple[str, str], ...]  # (value, label)
    default: str
    to_reporting: bool = True
    only_with: tuple[str, str] | None = None

    def pick(self, given: str | None) -> str:
        """The value asked for (absent or blank: the default); anything else is a ValueError
        naming the picker and what it takes."""
        value = (given or "").strip() or self.default
        allowed = [v for v, _ in self.choices]
        if value not in allowed:
            shown = ", ".join(v or "(none)" for v in allowed)
            raise ValueError(f"{self.name}: {value!r} is not one of {shown}")
        return value


BREAKDOWN = Option(
    "breakdown",
    "Funnel breakdown",
    (
        ("", "None"),
        ("source", "Source"),
        ("medium", "Medium"),
        ("campaign", "Campaign"),
        ("sequence", "Sequence"),
        ("cohort", "Cohort"),
    ),
    "",
)
COHORT = Option("cohort", "Cohorts by", (("month", "Month"), ("week", "Week")), "month")
COHORT_STAGE = Option(
    "stage",
    "Cohort stage",
    tuple((s, s.upper() if len(s) == 3 else s.capitalize()) for s in charts.COHORT_STAGES),
    "mql",
    to_reporting=False,
)


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
    # Adds what other services know (e.g. sequence names) to reporting's answer.
    enrich: Callable[[Api, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None

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


def _drop_off_note(data: dict[str, Any]) -> str:
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


ATTRIBUTION_MODEL = Option(
    "model",
    "Attribution model",
    (("first_touch", "First touch"), ("last_touch", "Last touch"), ("linear", "Linear")),
    "first_touch",
    to_reporting=False,
)
ATTRIBUTION_BY = Option(
    "credit_by",
    "Attribution by",
    (("source", "Source"), ("campaign", "Campaign")),
    "source",
    to_reporting=False,
)
REVENUE_BY = Option(
    "revenue_by",
    "Revenue by",
    (("source", "Source"), ("campaign", "Campaign"), ("cohort", "Cohort"), ("all", "All")),
    "source",
    to_reporting=False,
)
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


async def sequence_names(client: Api) -> dict[str, str]:
    """Sequence id -> name, from nurture (nothing when nurture cannot say: ids are shown)."""
    try:
        return {s["id"]: s["name"] for s in await client.get("nurture", "/v1/sequences")}
    except (ApiError, Unreachable):
        return {}


async def funnel_sequence_names(client: Api, data: dict[str, Any]) -> dict[str, Any]:
    """A funnel broken down by sequence, its groups named as the marketer named them."""
    if data.get("breakdown") != "sequence":
        return data
    names = await sequence_names(client)
    groups = [{**g, "group": names.get(g["group"], g["group"])} for g in data["groups"]]
    return {**data, "groups": groups}


async def with_sequence_names(client: Api, data: dict[str, Any]) -> dict[str, Any]:
    """Nurture's rows with each sequence's name (its id when nurture cannot say)."""
    names = await sequence_names(client)
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
        note=_drop_off_note,
        # The cohort unit matters to the funnel only when it is broken down by cohort.
        options=(BREAKDOWN, replace(COHORT, only_with=("breakdown", "cohort"))),
        groups=funnel_groups,
        enrich=funnel_sequence_names,
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
        columns=cohort_columns,
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
        note=forecast_note,
        explain=lambda data: str(data.get("method", "")),
    ),
    Report(
        key="attribution",
        title="Attribution",
        path="/v1/attribution",
        rows=attribution_rows,
        chart=lambda data, picked, key: charts.grouped_bars(
            attribution_pivot(attribution_rows(data, picked)),
            label="value",
            series=[(s, f"{s.upper() if len(s) == 3 else s}s") for s in ATTRIBUTION_STAGES],
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
        rows=revenue_rows,
        chart=lambda data, picked, key: charts.grouped_bars(
            revenue_rows(data, picked),
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
        enrich=with_sequence_names,
    ),
    Report(
        key="volume",
        title="Volume",
        path="/v1/volume",
        rows=lambda data, _: list(data["rows"]),
        chart=lambda data, _, key: charts.daily_columns(
            volume_days(data),
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
