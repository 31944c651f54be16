"""The sequence editor's form and the nurture API's definition: rendered to HTML, submitted as
a browser would, read back to the same definition, which nurture accepts."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from starlette.datastructures import ImmutableMultiDict

from services.console.api.web import TEMPLATES
from services.console.domain import forms
from services.console.domain import sequence_form as sf
from services.nurture.domain.sequences import SequenceDefinition

FULL: dict[str, Any] = {
    "trigger": {
        "kind": "event",
        "event_type": "track",
        "event": "Requested Demo",
        "properties": {"plan": "pro"},
    },
    "steps": [
        {"kind": "email", "id": "welcome", "template_id": "tpl_a"},
        {"kind": "wait", "id": "two-days", "business_days": 2},
        {"kind": "window", "id": "mornings", "start": "08:00", "end": "11:30", "days": [1, 3, 5]},
        {
            "kind": "branch",
            "id": "clicked",
            "condition": {"event": "email.clicked", "within_days": 7},
            "then": "demo",
            "else": "case-study",
        },
        {
            "kind": "email",
            "id": "case-study",
            "variants": [
                {"id": "a", "template_id": "tpl_a", "weight": 1},
                {"id": "b", "template_id": "tpl_b", "weight": 3},
            ],
        },
        {
            "kind": "branch",
            "id": "big",
            "condition": {"trait": "company.employees", "op": "gte", "value": 500},
            "then": "demo",
            "else": "demo",
        },
        {"kind": "email", "id": "demo", "template_id": "tpl_b", "business_days_only": False},
    ],
    "exit": {
        "stages": ["sql", "customer"],
        "events": ["Demo Booked", "Trial Started"],
        "on_unsubscribe": True,
        "on_hard_bounce": False,
    },
    "reentry": {"policy": "after_days", "days": 90},
    "business_days_only": True,
    "send_window": {"start": "09:00", "end": "17:00", "days": [1, 2, 3, 4, 5]},
}


class FormReader(HTMLParser):
    """What a browser submits for the form with the 'save' button: successful controls."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.pairs.append((a["name"], a.get("value", "on")))
            elif kind != "submit":
                self.pairs.append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name") and "form" not in a:
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected] or [self._options[0][0]]
            self.pairs.append((self._select, chosen[0]))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.pairs.append((self._textarea, self._text))
            self._textarea = None


def submitted(definition: dict[str, Any], name: str = "Welcome") -> ImmutableMultiDict[str, str]:
    html = TEMPLATES.get_template("sequence.html").render(
        request=None,
        csrf="t",
        workspace_name="Acme",
        messages=[],
        path="/sequences/new",
        sequence=None,
        name=name,
        d=definition,
        templates=[{"id": "tpl_a", "name": "A"}, {"id": "tpl_b", "name": "B"}],
        errors={},
        general=[],
        focus=None,
        results=None,
        stages=["subscriber", "lead", "mql", "sql", "opportunity", "customer"],
        event_types=["track", "page", "email.clicked"],
        condition_kind=sf.condition_kind,
        describe=sf.describe_step,
    )
    reader = FormReader()
    reader.feed(html)
    return ImmutableMultiDict(reader.pairs)


def test_a_full_definition_survives_the_form_and_nurture_accepts_it() -> None:
    name, back = sf.from_form(submitted(FULL))
    assert name == "Welcome"
    assert SequenceDefinition.model_validate(back) == SequenceDefinition.model_validate(FULL)


def test_the_blank_definition_survives_the_form() -> None:
    blank = sf.blank_definition("tpl_a")
    _, back = sf.from_form(submitted(blank))
    assert SequenceDefinition.model_validate(back) == SequenceDefinition.model_validate(blank)


def test_typed_values_go_to_the_api_as_typed_so_it_can_say_what_is_wrong() -> None:
    form = ImmutableMultiDict(
        [("steps.0.kind", "wait"), ("steps.0.id", "w"), ("steps.0.business_days", "two")]
    )
    _, definition = sf.from_form(form)
    assert definition["steps"] == [{"kind": "wait", "id": "w", "business_days": "two"}]


def test_numbers_and_values() -> None:
    assert [forms.number(t) for t in ("3", " 2.5 ", "", None, "P2D")] == [3, 2.5, None, None, "P2D"]
    assert [forms.loose_value(t) for t in ("500", "true", '"500"', "pro", "")] == [
        500,
        True,
        "500",
        "pro",
        None,
    ]
    assert forms.words(" Demo Booked, ,Trial ") == ["Demo Booked", "Trial"]


def test_editor_actions() -> None:
    d = sf.blank_definition("tpl_a")
    d = sf.apply_op(d, "add:wait")
    d = sf.apply_op(d, "add:email", "tpl_b")
    assert [(s["kind"], s["id"]) for s in d["steps"]] == [
        ("email", "welcome"),
        ("wait", "wait-1"),
        ("email", "email-1"),
    ]
    d = sf.apply_op(d, "up:2")
    assert [s["id"] for s in d["steps"]] == ["welcome", "email-1", "wait-1"]
    d = sf.apply_op(d, "split:1", "tpl_a")
    assert d["steps"][1]["variants"] == [
        {"id": "a", "template_id": "tpl_b", "weight": 1},
        {"id": "b", "template_id": "tpl_b", "weight": 1},
    ]
    d = sf.apply_op(d, "add_variant:1", "tpl_a")
    assert [v["id"] for v in d["steps"][1]["variants"]] == ["a", "b", "c"]
    d = sf.apply_op(d, "remove_variant:1:0")
    d = sf.apply_op(d, "unsplit:1")
    assert d["steps"][1] == {"kind": "email", "id": "email-1", "template_id": "tpl_b"}
    d = sf.apply_op(d, "remove:0")
    assert [s["id"] for s in d["steps"]] == ["email-1", "wait-1"]
    SequenceDefinition.model_validate(d)


@pytest.mark.parametrize("op", ["remove:9", "explode:0", "add:teleport", "up"])
def test_unknown_editor_actions_are_refused(op: str) -> None:
    with pytest.raises(sf.BadOp):
        sf.apply_op(sf.blank_definition(), op)


def test_an_email_without_a_template_gets_nurtures_own_words() -> None:
    form = ImmutableMultiDict(
        [("steps.0.kind", "email"), ("steps.0.id", "hi"), ("steps.0.template_id", "")]
    )
    _, definition = sf.from_form(form)
    with pytest.raises(ValueError, match="an email step needs a template_id"):
        SequenceDefinition.model_validate(
            {**definition, "trigger": {"kind": "stage_entered", "stage": "mql"}}
        )
