"""Charts, timeline words, report registry, settings forms, origins."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import ImmutableMultiDict

from services.console.domain import charts
from services.console.domain.leads import page_links
from services.console.domain.reports import BY_KEY, REPORTS
from services.console.domain.sequences import headline
from services.console.domain.settings_form import (
    nurture_from_form,
    origins_from_text,
    scoring_from_form,
)
from services.console.domain.templates import template_errors
from services.console.domain.timeline import describe
from services.ingest.domain.workspaces import normalize_origin
from services.nurture.domain.config import NurtureConfig
from services.scoring.domain.config import ScoringConfig

FUNNEL = {
    "stages": [
        {
            "stage": "subscriber",
            "reached": 100,
            "conversion_from_previous": None,
            "conversion_from_top": 1.0,
            "converted": 80,
            "in_progress": 0,
            "lost": 20,
        },
        {
            "stage": "lead",
            "reached": 80,
            "conversion_from_previous": 0.8,
            "conversion_from_top": 0.8,
        },
        {
            "stage": "mql",
            "reached": 20,
            "conversion_from_previous": 0.25,
            "conversion_from_top": 0.2,
        },
        {"stage": "sql", "reached": 0, "conversion_from_previous": 0.0, "conversion_from_top": 0.0},
    ],
    "largest_drop_off": {"from": "lead", "to": "mql", "lost_share": 0.75},
}


def test_funnel_chart_draws_one_bar_per_stage_and_marks_the_drop_off() -> None:
    svg = str(charts.funnel(FUNNEL["stages"], FUNNEL["largest_drop_off"]))
    assert svg.count("<rect") == 4
    assert svg.count("bar-worst") == 1
    assert 'width="350.0"' in svg  # the top stage spans the whole bar area
    assert "20 · 25% of previous" in svg
    assert "Largest drop-off: lead to mql, 75% lost" in svg
    assert BY_KEY["funnel"].note(FUNNEL) == "Largest drop-off: lead → mql, 75% of leads lost."


def test_velocity_chart_shows_measures_without_leads_as_such() -> None:
    rows = [
        {
            "measure": "time_in_lead",
            "leads": 3,
            "median_days": 2.0,
            "p75_days": 3.0,
            "p90_days": 4.0,
        },
        {
            "measure": "time_in_mql",
            "leads": 0,
            "median_days": None,
            "p75_days": None,
            "p90_days": None,
        },
    ]
    svg = str(charts.velocity(rows))
    assert svg.count("<rect") == 1
    assert svg.count('class="tick"') == 2
    assert "no leads" in svg
    assert "2.0 d" in svg


def test_chart_labels_are_escaped() -> None:
    rows = [{"stage": "<script>", "reached": 1, "conversion_from_previous": None}]
    assert "<script>" not in str(charts.funnel(rows, None))


def test_every_report_reads_its_rows_and_columns() -> None:
    assert [r.key for r in REPORTS] == [
        "funnel",
        "velocity",
        "cohorts",
        "forecast",
        "attribution",
        "revenue",
        "nurture",
        "volume",
    ]
    rows = BY_KEY["funnel"].rows(FUNNEL, {})
    assert {k for k, _ in BY_KEY["funnel"].columns({})} <= set(rows[0])


@pytest.mark.parametrize(
    ("item", "text"),
    [
        ({"kind": "page", "detail": {"properties": {"path": "/pricing"}}}, "Viewed /pricing"),
        ({"kind": "track", "detail": {"event": "Requested Demo"}}, "Did “Requested Demo”"),
        (
            {"kind": "identify", "detail": {"traits": {"email": "a@b.example"}}},
            "Identified as a@b.example",
        ),
        ({"kind": "email.sent", "detail": {"subject": "Hi"}}, "Email sent: “Hi”"),
        (
            {"kind": "email.clicked", "detail": {"step_id": "w", "url": "https://x.example"}},
            "Email link clicked (step w) → https://x.example",
        ),
        (
            {
                "kind": "stage",
                "detail": {"from": "mql", "to": "sql", "reason": "ok", "actor": "sales"},
            },
            "Stage mql → sql: ok (by sales)",
        ),
    ],
)
def test_timeline_in_words(item: dict[str, Any], text: str) -> None:
    assert describe(item) == text


def test_headline_figures_of_a_sequence() -> None:
    results = {
        "enrollments": {"enrolled": 4, "active": 1, "goal_rate": 0.25},
        "steps": [{"sent": 3, "opened": 2, "clicked": 1}, {"sent": 1, "opened": 0, "clicked": 0}],
    }
    figures = headline(results)
    assert (figures["sent"], figures["open_rate"], figures["click_rate"]) == (4, 0.5, 0.25)
    assert headline({"enrollments": {}, "steps": []})["open_rate"] is None


def test_settings_forms_change_only_their_fields_and_stay_valid() -> None:
    scoring = ScoringConfig().model_dump(mode="json")
    form = ImmutableMultiDict(
        [
            ("thresholds.mql_score", "55"),
            ("thresholds.mql_fit", "35"),
            ("mql_sla_hours", "24"),
            ("engagement_half_life_days", "14"),
            ("stage_max_days.sql", "10"),
            ("stage_max_days.mql", ""),
        ]
    )
    changed = ScoringConfig.model_validate(scoring_from_form(scoring, form))
    assert (changed.thresholds.mql_score, changed.thresholds.mql_fit) == (55, 35)
    assert changed.thresholds.mql_requires_identity is False  # the box was not ticked
    assert changed.stage_max_days == {"sql": 10.0}
    assert changed.stage_events == ScoringConfig().stage_events

    nurture = NurtureConfig().model_dump(mode="json")
    form = ImmutableMultiDict(
        [
            ("timezone", "Europe/Paris"),
            ("send_window.start", "08:00"),
            ("send_window.end", "18:00"),
            ("send_window.days", "1"),
            ("send_window.days", "2"),
            ("caps.count", "2"),
            ("caps.0.max", "2"),
            ("caps.0.per", "P1D"),
            ("caps.1.max", ""),
            ("caps.1.per", ""),
            ("caps.2.max", "5"),
            ("caps.2.per", "P30D"),
            ("rate_per_minute", "100"),
            ("from_name", "Acme"),
            ("from_address", "hi@acme.example"),
        ]
    )
    got = NurtureConfig.model_validate(nurture_from_form(nurture, form))
    assert got.timezone == "Europe/Paris"
    assert got.send_window.days == {1, 2}
    assert [(c.max, c.per.days) for c in got.caps] == [(2, 1), (5, 30)]
    assert got.track_opens == NurtureConfig().track_opens


def test_origins() -> None:
    assert origins_from_text("https://a.example\n\n https://b.example, http://c.example ") == [
        "https://a.example",
        "https://b.example",
        "http://c.example",
    ]
    assert normalize_origin("HTTPS://WWW.Acme.example:443/") == "https://www.acme.example"
    assert normalize_origin("http://localhost:3000") == "http://localhost:3000"
    for bad in (
        "www.acme.example",
        "https://acme.example/shop",
        "ftp://acme.example",
        "https://acme.example:99999",
    ):
        with pytest.raises(ValueError, match=r"origin|port"):
            normalize_origin(bad)


def test_pages_forward_and_back_with_keyset_cursors() -> None:
    assert page_links("", "", None) == (None, None)
    prev1, next1 = page_links("", "", "c1")
    assert (prev1, next1) == (None, {"cursor": "c1", "trail": "~"})
    prev2, next2 = page_links("c1", "~", "c2")
    assert prev2 == {"cursor": "", "trail": ""}
    assert next2 == {"cursor": "c2", "trail": "~.c1"}
    prev3, next3 = page_links("c2", "~.c1", None)
    assert prev3 == {"cursor": "c1", "trail": "~"}
    assert next3 is None


def test_template_problems_land_on_their_part() -> None:
    detail = [
        {"part": "html", "line": 3, "message": "unexpected '}'"},
        {"part": "subject", "line": None, "message": "too long"},
    ]
    assert template_errors(detail) == (
        {"html": ["line 3: unexpected '}'"], "subject": ["too long"]},
        [],
    )
    name = [{"loc": ["body", "name"], "msg": "String should have at least 1 character"}]
    assert template_errors(name) == ({"name": ["String should have at least 1 character"]}, [])
