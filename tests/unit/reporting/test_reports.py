"""The reports' rules on rows as their queries return them (domain/<report>.py)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from services.reporting.domain import forecast, funnel, nurture, revenue, velocity
from services.reporting.domain.attribution import CreditSum, credit_rows
from services.reporting.domain.buckets import SPAN_BEFORE, cohorts_of
from services.reporting.domain.cohorts import STAGES as COHORT_STAGES
from services.reporting.domain.cohorts import cohort_table
from services.reporting.domain.period import NO_VALUE, Period
from services.reporting.domain.volume import daily_rows

WINDOWS = {"subscriber": 30, "lead": 30, "mql": 14, "sql": 30, "opportunity": 60}


def flat(reached: list[int], converted: list[int], lost: list[int]) -> list[int]:
    out = []
    for i, n in enumerate(reached):
        out.append(n)
        if i < len(converted):
            out += [converted[i], lost[i]]
    return out


def test_funnel_groups_add_up_and_split_into_stages() -> None:
    counts = flat([4, 3, 2, 1, 1, 0], [3, 2, 1, 1, 0], [1, 0, 1, 0, 1])
    sums = funnel.add_up([("google", counts), (None, counts), ("google", counts)])
    assert sums == {"google": [2 * n for n in counts], NO_VALUE: counts}
    assert funnel.split(counts) == ([4, 3, 2, 1, 1, 0], [3, 2, 1, 1, 0], [1, 0, 1, 0, 1])


def test_funnel_result_keeps_groups_with_leads_sorted_or_the_one_funnel() -> None:
    some = flat([2, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0])
    none = [0] * len(some)
    grouped = funnel.result({"b": some, "a": some, "z": none}, WINDOWS, grouped=True)
    assert [g["group"] for g in grouped["groups"]] == ["a", "b"]
    assert grouped["groups"][0]["stages"][0]["reached"] == 2
    single = funnel.result({"": some}, WINDOWS, grouped=False)
    assert single["stages"][1]["conversion_from_previous"] == 0.5
    empty = funnel.result({}, WINDOWS, grouped=False)
    assert [s["reached"] for s in empty["stages"]] == [0] * 6
    assert empty["largest_drop_off"] is None


def test_the_largest_drop_off_is_the_earliest_of_equal_ones() -> None:
    assert funnel.largest_drop_off([None, 0.5, 0.5, None]) == {
        "from": "subscriber",
        "to": "lead",
        "lost_share": 0.5,
    }


def test_attribution_credits_first_last_and_linear_touches() -> None:
    sums = [
        CreditSum("mql", (True, True, True, True), (None,) * 4, 4, 4.0),  # 4 converted
        CreditSum("mql", (False, True, True, True), ("google", None, None, None), 3, 3.0),
        CreditSum("mql", (True, False, True, True), (None, "spring", None, None), 4, 4.0),
        CreditSum("mql", (True, True, False, True), (None, None, "news", None), 2, 2.5),
        CreditSum("mql", (True, True, False, True), (None, None, "bing", None), 0, 0.5),
        CreditSum("sql", (True, True, True, True), (None,) * 4, 0, 0.0),
    ]
    rows = {(r["model"], r["dimension"], r["value"]): r for r in credit_rows(sums)}
    assert rows[("first_touch", "source", "google")]["share"] == 0.75
    assert rows[("first_touch", "campaign", "spring")]["credit"] == 4
    assert rows[("last_touch", "source", "news")]["credit"] == 2
    assert ("last_touch", "source", "bing") not in rows  # nobody's last touch
    assert rows[("linear", "source", "bing")]["share"] == 0.125
    assert [r["model"] for r in credit_rows(sums)] == [
        "first_touch",
        "first_touch",
        "last_touch",
        "linear",
        "linear",
    ]


def test_a_cohort_reaches_stages_by_age_up_to_now() -> None:
    no_stage: list[int | None] = [None] * len(COHORT_STAGES)
    mql_at_1 = [0, 1, *[None] * (len(COHORT_STAGES) - 2)]
    groups = [("2026-03-02", mql_at_1, 2), ("2026-03-02", no_stage, 2)]
    rows = cohort_table(groups, datetime(2026, 3, 17), "week")
    assert [r["age"] for r in rows] == [0, 1, 2]
    assert [r["reached_mql"] for r in rows] == [0, 2, 2]
    assert [r["share_lead"] for r in rows] == [0.5, 0.5, 0.5]
    assert all(r["leads"] == 4 for r in rows)


def test_revenue_rolls_every_dimension_up_and_spreads_costs() -> None:
    groups = [
        ("google", "spring", "2026-03-01", 2, 1, 1, 100.0, 1),
        ("bing", "(none)", "2026-03-01", 1, 0, 0, None, 0),
    ]
    found = revenue.roll_up(groups)
    assert found[None][""] == [3.0, 1.0, 1.0, 100.0, 1.0]
    rows = revenue.revenue_rows(found, {"spring": 50.0, "autumn": 10.0})
    by = {(r["dimension"], r["value"]): r for r in rows}
    assert by[("all", "")]["cost"] == 60.0
    assert by[("all", "")]["cost_per_lead"] == 20.0
    assert by[("campaign", "spring")]["cost_per_customer"] == 50.0
    assert by[("campaign", "autumn")]["leads"] == 0  # a cost, no lead: still listed
    assert by[("source", "google")]["average_sale_value"] == 100.0
    assert by[("source", "bing")]["average_sale_value"] is None
    assert by[("source", "bing")]["cost"] is None


def test_velocity_measures_each_stage_and_the_cycle() -> None:
    names = [m[0] for m in velocity.MEASURES]
    assert names[:2] == ["time_in_subscriber", "time_in_lead"]
    assert names[-3:] == ["first_touch_to_mql", "first_touch_to_sql", "first_touch_to_customer"]
    figures: list[tuple[int, list[float] | None]] = [(0, None)] * len(names)
    figures[0] = (3, [1.23456, 2.0, 3.0])
    rows = velocity.velocity_rows(figures)
    assert rows[0] == {
        "measure": "time_in_subscriber",
        "leads": 3,
        "median_days": 1.235,
        "p75_days": 2.0,
        "p90_days": 3.0,
    }
    assert rows[1]["median_days"] is None
    assert velocity.quantile([1, 2, 3, 4], 0.5) == 2.5


def test_volume_lists_each_day_new_leads_first() -> None:
    rows = daily_rows([("2026-03-02", "page", 5), ("2026-03-01", "track", 2)], [("2026-03-02", 1)])
    assert [(r["date"], r["measure"], r["type"]) for r in rows] == [
        ("2026-03-01", "touchpoints", "track"),
        ("2026-03-02", "new_leads", ""),
        ("2026-03-02", "touchpoints", "page"),
    ]


def test_the_forecast_reads_the_period_and_the_open_pipeline() -> None:
    reached, times = forecast.observed([(None, 2), (1, 1), (3, 1)])
    assert (reached, times) == (4, [1, 3])
    assert forecast.oldest_open(times) == 4
    assert forecast.oldest_open([]) == 1
    row = forecast.step_row(("lead", "mql"), reached, times, {0: 2}, 7)
    assert row["observed_conversion"] == 0.5
    assert row["median_days"] == 2.0
    assert row["pipeline"] == 2
    assert row["expected"] == pytest.approx(1.0)
    assert forecast.revenue_row(2.0, 150.0)["expected"] == 300.0
    assert forecast.revenue_row(2.0, None)["expected"] is None


def test_nurture_sums_a_sequence_over_its_steps() -> None:
    counts = {"enrolled": 2, "reached_goal": 1, "sent": 4, "opened": 2, "clicked": 1}
    counts |= {"unsubscribed": 0, "bounced": 1}
    steps = [("seq", "s1", "", counts), ("seq", "s2", "b", counts)]
    rows = nurture.nurture_rows(steps, [("seq", 3, 1), ("other", 1, 0)])
    assert [(r["sequence_id"], r["step_id"]) for r in rows] == [
        ("other", ""),
        ("seq", ""),
        ("seq", "s1"),
        ("seq", "s2"),
    ]
    total = rows[1]
    assert (total["sent"], total["enrolled"], total["reached_goal"]) == (8, 3, 1)
    assert total["open_rate"] == 0.5
    assert total["bounce_rate"] == round(2 / 10, 4)
    assert rows[0]["open_rate"] is None  # nothing sent


def test_cohort_buckets_reach_back_before_the_period() -> None:
    period = Period.of_days(date(2026, 3, 1), date(2026, 3, 31), "Europe/Paris")
    buckets = cohorts_of(period, "month")
    assert buckets.starts[0] <= period.start - SPAN_BEFORE
    assert buckets.starts[-2] <= period.end < buckets.starts[-1]
    assert buckets.labels[-3:] == ["2026-03-01", "2026-04-01", "2026-05-01"]
