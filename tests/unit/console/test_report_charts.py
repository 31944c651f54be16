"""The cohort heat map, the forecast chart, and the report registry's pickers: rows in,
markup and parameters out."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.console.domain import charts
from services.console.domain.report_options import COHORT
from services.console.domain.report_rows import (
    attribution_pivot,
    attribution_rows,
    forecast_note,
    funnel_groups,
    revenue_rows,
    volume_days,
)
from services.console.domain.reports import BY_KEY, page_options


def cohort(name: str, age: int, leads: int, mql: int) -> dict[str, Any]:
    return {
        "cohort": name,
        "age": age,
        "leads": leads,
        "reached_mql": mql,
        "share_mql": round(mql / leads, 4),
        "reached_sql": 0,
        "share_sql": 0.0,
    }


def test_the_cohort_heat_map_has_a_cell_per_cohort_and_age_shaded_by_share() -> None:
    rows = [
        cohort("2026-10-05", 0, 10, 1),
        cohort("2026-10-05", 1, 10, 5),
        cohort("2026-10-05", 2, 10, 10),
        cohort("2026-10-12", 0, 4, 0),
        cohort("2026-10-12", 1, 4, 1),
    ]
    svg = str(charts.cohorts(rows, "mql", "week"))
    cells = re.findall(r'<rect class="cell"[^>]*fill-opacity="([0-9.]+)"', svg)
    assert len(cells) == 5 + 5  # the cells, then the five legend swatches
    assert cells[:5] == ["0.15", "0.53", "1.00", "0.06", "0.29"]  # darker is more
    assert "2026-10-05, age 2: 100% reached mql (10 of 10)" in svg  # each cell's own title
    assert "2026-10-12 · 4 leads" in svg
    assert svg.count('class="cell-text on-dark"') == 2  # 50% and 100%: white figures
    assert "<desc" in svg
    assert "2026-10-05 (10 leads): 100% by age 2" in svg
    assert "reached mql, by age in weeks" in svg
    other = str(charts.cohorts(rows, "sql", "week", key="c2"))
    assert re.findall(r'fill-opacity="([0-9.]+)"', other)[:5] == ["0.06"] * 5
    assert 'id="c2-title"' in other


def test_an_empty_heat_map_says_so() -> None:
    svg = str(charts.cohorts([], "mql", "month"))
    assert "No cohorts in this period." in svg
    assert "<rect" not in svg


def test_many_ages_drop_the_figures_inside_cells_but_keep_their_titles() -> None:
    rows = [cohort("2026-01-05", age, 10, min(10, age)) for age in range(40)]
    svg = str(charts.cohorts(rows, "mql", "week"))
    assert "cell-text" not in svg
    assert svg.count("<title>") == 40


def test_forecast_chart_shows_expected_against_open_leads_and_the_revenue() -> None:
    rows = [
        {"measure": "mql", "from_stage": "lead", "pipeline": 40, "expected": 6.5},
        {"measure": "sql", "from_stage": "mql", "pipeline": 8, "expected": 3.25},
        {"measure": "customer", "from_stage": "sql", "pipeline": 0, "expected": 0.0},
        {"measure": "revenue", "from_stage": "customer", "pipeline": None, "expected": 1234.5},
    ]
    svg = str(charts.forecast(rows))
    assert svg.count('class="bar-bg"') == 3
    assert "6.5 of 40 open" in svg
    assert "MQLs" in svg
    assert "customers" in svg
    assert "1,234.50" in svg
    assert "MQLs: 6.5 expected of 40 leads open in lead" in svg
    unknown = str(charts.forecast([{**rows[3], "expected": None}]))
    assert "not known (no priced sale in the period)" in unknown


def test_forecast_note_names_the_next_period() -> None:
    data = {
        "horizon_start": "2026-11-23T10:00:00Z",
        "horizon_end": "2026-12-23T10:00:00Z",
        "rows": [{"measure": "revenue", "expected": 10.0}],
    }
    assert forecast_note(data) == "Next period, 2026-11-23 to 2026-12-23: expected revenue 10.00."
    assert "no revenue expected" in forecast_note({**data, "rows": []})


def test_pickers_check_their_values_and_send_only_what_reporting_takes() -> None:
    funnel, cohorts = BY_KEY["funnel"], BY_KEY["cohorts"]
    assert funnel.picked({}) == {"breakdown": "", "cohort": "month"}
    assert funnel.query(funnel.picked({})) == {}
    assert funnel.query(funnel.picked({"breakdown": "source", "cohort": "week"})) == {
        "breakdown": "source"
    }
    assert funnel.query(funnel.picked({"breakdown": "cohort", "cohort": "week"})) == {
        "breakdown": "cohort",
        "cohort": "week",
    }
    assert cohorts.query(cohorts.picked({"cohort": " week ", "stage": "sql"})) == {"cohort": "week"}
    assert cohorts.columns({"cohort": "week", "stage": "sql"})[3:] == (
        ("reached_sql", "Reached sql"),
        ("share_sql", "Share reached sql"),
    )
    with pytest.raises(ValueError, match="breakdown: 'country' is not one of"):
        funnel.picked({"breakdown": "country"})
    assert COHORT.pick("") == "month"
    assert [o.name for o in page_options()] == [
        "breakdown",
        "cohort",
        "stage",
        "model",
        "credit_by",
        "revenue_by",
    ]


def test_a_broken_down_funnel_is_one_funnel_per_group() -> None:
    stages = [{"stage": "subscriber", "reached": 3, "conversion_from_previous": None}]
    data = {"groups": [{"group": "google", "stages": stages, "largest_drop_off": None}]}
    [(name, part)] = funnel_groups(data)
    assert name == "google"
    report = BY_KEY["funnel"]
    assert report.rows(part, {}) == stages
    assert 'id="funnel-0-title"' in str(report.chart(part, {}, "funnel-0"))


def test_attribution_shows_the_picked_model_and_dimension_one_row_per_source() -> None:
    rows = [
        {"stage": st, "model": m, "dimension": d, "value": v, "credit": 1, "share": share}
        for m in ("first_touch", "linear")
        for d in ("source", "campaign")
        for st, v, share in (
            ("mql", "google", 0.75),
            ("mql", "bing", 0.25),
            ("customer", "bing", 1.0),
        )
    ]
    picked = {"model": "linear", "credit_by": "campaign"}
    shown = attribution_rows({"rows": rows}, picked)
    assert len(shown) == 3
    assert {(r["model"], r["dimension"]) for r in shown} == {("linear", "campaign")}
    assert attribution_pivot(shown) == [
        {"value": "google", "mql": 0.75},
        {"value": "bing", "mql": 0.25, "customer": 1.0},
    ]
    svg = str(BY_KEY["attribution"].chart({"rows": rows}, picked, "attribution"))
    assert svg.count('class="s0"') == 1 + 2  # legend, then an MQL bar per source
    assert "bing: MQLs 25%, SQLs -, customers 100%" in svg


def test_grouped_bars_share_one_scale_and_say_when_empty() -> None:
    rows = [{"value": "google", "revenue": 800.0, "cost": 200.0}, {"value": "", "revenue": 400.0}]
    svg = str(
        charts.grouped_bars(
            rows,
            label="value",
            series=[("revenue", "Revenue"), ("cost", "Cost")],
            title="t",
            key="r",
            money=True,
        )
    )
    widths = [
        float(w) for w in re.findall(r'<rect class="s\d" x="170" y="\d+" width="([0-9.]+)"', svg)
    ]
    assert widths[1:] == [380.0, 95.0, 190.0, 1.0]  # (the legend) 800, 200, 400, no cost
    assert "google: Revenue 800.00, Cost 200.00; (all): Revenue 400.00, Cost -" in svg
    empty = str(charts.grouped_bars([], label="v", series=[("a", "A")], title="t", key="e"))
    assert "Nothing to show." in empty


def test_volume_counts_every_day_of_the_period() -> None:
    data = {
        "start": "2026-10-01",
        "end": "2026-10-03",
        "rows": [
            {"date": "2026-10-02", "measure": "touchpoints", "type": "page", "count": 7},
            {"date": "2026-10-02", "measure": "touchpoints", "type": "track", "count": 3},
            {"date": "2026-10-03", "measure": "new_leads", "type": "", "count": 2},
        ],
    }
    days = volume_days(data)
    assert days == [("2026-10-01", 0, 0), ("2026-10-02", 10, 0), ("2026-10-03", 0, 2)]
    svg = str(charts.daily_columns(days, title="t", names=("touchpoints", "new leads"), key="v"))
    assert "2026-10-02: 10 touchpoints, 0 new leads" in svg
    assert "3 days, 10 touchpoints, 2 new leads; busiest day 10" in svg


def test_revenue_shows_the_picked_dimension() -> None:
    rows = [{"dimension": "all", "value": ""}, {"dimension": "campaign", "value": "spring"}]
    assert revenue_rows({"rows": rows}, {"revenue_by": "campaign"}) == rows[1:]
