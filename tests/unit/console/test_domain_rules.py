"""The console's rules moved out of its routes into domain/: sales decisions, list filters,
sign-in wording and redirects, sequence vocabulary, settings forms' errors, report sections
and sequence names. Pure functions: no app, no services."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from starlette.datastructures import ImmutableMultiDict

from services.console.domain import leads, navigation, sequence_form, sequences, settings_form
from services.console.domain import report_rows as shape
from services.console.domain import templates as tpl
from services.console.domain.forms import numbers, stripped
from services.console.domain.reports import (
    BY_KEY,
    csv_name,
    filled_section,
    period,
    refused_section,
    section_head,
)
from services.console.domain.timeline import EMAIL_VERBS
from shared.events import EMAIL_TYPES, STAGES, TOUCHPOINT_TYPES


@pytest.mark.parametrize(
    ("stage", "reason", "problem", "body"),
    [
        ("sql", "", None, {"stage": "sql", "reason": "accepted by sales"}),
        ("sql", " fits ", None, {"stage": "sql", "reason": "fits"}),
        ("recycled", "not now", None, {"stage": "recycled", "reason": "not now"}),
        ("disqualified", "  ", "Give a reason to recycle or disqualify a lead.", None),
        ("customer", "x", "Unknown decision 'customer'.", None),
    ],
)
def test_a_sales_decision_needs_a_known_stage_and_a_reason_to_say_no(
    stage: str, reason: str, problem: str | None, body: dict[str, str] | None
) -> None:
    decision = leads.decision(stage, reason)
    assert decision.problem == problem
    if body is not None:
        assert decision.body == body
        assert decision.done == f"Lead {leads.DECISIONS[stage]}."


def test_the_list_filters_drop_blanks_and_unknown_sorts() -> None:
    assert leads.list_query("mql", "", " g@x.io ", "nonsense") == {
        "stage": "mql",
        "email": "g@x.io",
        "sort": "-score",
    }
    assert leads.list_query("", "50", "", "updated_at") == {"min_score": "50", "sort": "updated_at"}
    assert list(STAGES) == leads.LIST_STAGES  # the vocabulary of shared/events


def test_a_leads_email_enrollments_and_timeline() -> None:
    lead = {"identities": [{"kind": "anonymous", "value": "b"}, {"kind": "email", "value": "e"}]}
    assert leads.primary_email(lead) == "e"
    assert leads.primary_email({"identities": []}) is None
    named = leads.named_enrollments(
        [{"sequence_id": "sq_1"}, {"sequence_id": "sq_gone"}], [{"id": "sq_1", "name": "Welcome"}]
    )
    assert [e["name"] for e in named] == ["Welcome", "sq_gone"]
    worded = leads.worded_timeline([{"kind": "track", "detail": {"event": "Signed Up"}}])
    assert worded[0]["text"] == "Did “Signed Up”"


def test_the_timeline_has_words_for_every_email_event() -> None:
    assert set(EMAIL_VERBS) == EMAIL_TYPES


def test_sign_in_redirects_and_wording() -> None:
    assert navigation.login_url("/leads?a=1") == "/login?next=%2Fleads%3Fa%3D1"
    assert navigation.safe_next("https://evil") == navigation.HOME
    assert navigation.key_refused(401, "unknown key") == "That key was not accepted: unknown key"
    assert navigation.key_refused(500, "boom") == "LeadFlow could not check the key (500): boom"
    assert "does not answer at http://x" in navigation.ingest_unreachable("http://x")


def test_the_sequence_editor_offers_shared_vocabulary() -> None:
    assert set(sequences.TRIGGER_EVENT_TYPES) == TOUCHPOINT_TYPES | EMAIL_TYPES
    assert list(STAGES) == sequences.EDITOR_STAGES
    assert sequences.first_template([{"id": "tpl_1"}, {"id": "tpl_2"}]) == "tpl_1"
    assert sequences.first_template([]) == ""


def test_the_editor_focuses_a_step_just_added() -> None:
    definition = {"steps": [{"id": "a"}, {"id": "b"}]}
    assert sequence_form.focus_after("add:wait", definition) == "step-1"
    assert sequence_form.focus_after("remove:0", definition) is None


def test_form_values() -> None:
    form = ImmutableMultiDict([("days", "1"), ("days", "x"), ("tz", " UTC ")])
    assert numbers(form, "days") == [1, "x"]
    assert stripped(form, "tz") == "UTC"
    assert stripped(form, "absent") == ""


def test_settings_forms_errors_land_on_their_form() -> None:
    errors = settings_form.suppression_errors({"email": ["not an email"]}, ["no"])
    assert errors == {"suppression.email": ["not an email"], "suppression": ["no"]}
    assert settings_form.all_messages({"a": ["1", "2"], "b": ["3"]}, ["4"]) == ["1", "2", "3", "4"]


def test_template_helpers() -> None:
    assert tpl.lead_choices(
        [{"id": "ld_1", "traits": {}}, {"id": "ld_2", "traits": {"email": "e"}}]
    ) == [
        {"id": "ld_1", "label": "ld_1"},
        {"id": "ld_2", "label": "e"},
    ]
    problems = {"problems": [{"part": "subject", "line": None, "message": "empty"}]}
    assert tpl.template_errors(problems) == ({"subject": ["empty"]}, [])
    assert tpl.preview_problems("a plain refusal") == [
        tpl.Problem("template", None, "a plain refusal")
    ]
    assert tpl.problems_body([tpl.Problem("<b>", 2, "<i>")]) == (
        "<p><strong>The template has problems:</strong></p>"
        "<ul><li>&lt;b&gt; line 2: &lt;i&gt;</li></ul>"
    )
    rendered = tpl.rendered_body({"subject": "<S>", "html": "<p>h</p>", "text": "t"})
    assert rendered.endswith("<strong>Subject:</strong> &lt;S&gt;</div><p>h</p>")
    form = ImmutableMultiDict([("name", "n"), ("subject", "s")])
    assert tpl.values(form) == {"name": "n", "subject": "s", "html": "", "text": ""}


def test_the_funnel_names_its_sequence_groups_only_when_broken_down_by_sequence() -> None:
    funnel = BY_KEY["funnel"]
    assert funnel.name_sequences is shape.name_funnel_groups
    assert not funnel.wants_names({"breakdown": "source", "groups": []})
    data = {"breakdown": "sequence", "groups": [{"group": "sq_1"}, {"group": "sq_9"}]}
    assert funnel.wants_names(data)
    named = shape.name_funnel_groups(data, {"sq_1": "Welcome"})
    assert [g["group"] for g in named["groups"]] == ["Welcome", "sq_9"]
    nurture = BY_KEY["nurture"]
    assert nurture.wants_names({"rows": []})
    rows = shape.name_sequence_rows({"rows": [{"sequence_id": "sq_1"}]}, {})
    assert rows["rows"][0]["sequence"] == "sq_1"
    assert BY_KEY["velocity"].name_sequences is None


def test_a_reports_section() -> None:
    report = BY_KEY["funnel"]
    params = {"start": "2026-01-01", "end": "2026-01-31", "tz": "UTC", "breakdown": "source"}
    head = section_head(report, {"breakdown": "source"}, params)
    assert head["csv"].startswith("/funnel/funnel.csv?start=2026-01-01&end=2026-01-31")
    assert refused_section(head, "bad tz") == {**head, "error": "bad tz", "csv": None}
    stages: dict[str, Any] = {"stages": [{"stage": "lead", "reached": 3}]}
    groups = {"groups": [{"group": "google", **stages}]}
    grouped = filled_section(report, head, groups, {"breakdown": "source"}, params)
    assert grouped["note"] == "1 groups by source."
    assert grouped["groups"][0]["key"] == "funnel-0"
    empty = filled_section(report, head, {"groups": []}, {"breakdown": "source"}, params)
    assert empty["note"] == "No lead reached a stage in this period (by source)."
    whole = filled_section(report, head, stages, {}, params)
    assert whole["key"] == "funnel"
    assert whole["rows"] == stages["stages"]
    assert whole["note"] == "No drop-off to show in this period."


def test_the_period_and_the_csv_name() -> None:
    assert period("", "", date(2026, 1, 30)) == ("2026-01-01", "2026-01-30")
    assert period("2025-12-01", "2025-12-02", date(2026, 1, 30)) == ("2025-12-01", "2025-12-02")
    params = {"start": "2026-01-01", "end": "2026-01-31", "tz": "UTC", "breakdown": "source"}
    assert csv_name("funnel", params) == "leadflow-funnel-by-source-2026-01-01-to-2026-01-31.csv"


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.example",  # a browser reads it as //evil.example
        "/\\/evil.example",
        "/leads\\..\\..\\evil",
        "\\\\evil.example",
        "/\t/evil.example",  # tabs and newlines are dropped from URLs by browsers
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/\x00x",
        "//evil.example",
        "///evil.example",
        "https://evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
def test_sign_in_never_redirects_off_the_site(target: str) -> None:
    assert navigation.safe_next(target) == navigation.HOME


@pytest.mark.parametrize("target", ["/leads", "/leads/abc?tab=emails#x", "/funnel?from=a:b"])
def test_sign_in_returns_to_pages_of_the_site(target: str) -> None:
    assert navigation.safe_next(target) == target
