"""Nurture's 422 problems land on the console's form fields."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.console.domain.validation import field_errors, field_name
from services.nurture.domain.sequences import SequenceDefinition


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (["body", "name"], "name"),
        (["body", "definition", "trigger", "stage_entered", "stage"], "trigger.stage"),
        (["body", "definition", "trigger"], "trigger.kind"),
        (["body", "definition", "steps", 0, "email", "template_id"], "steps.0.template_id"),
        (["body", "definition", "steps", 3], "steps.3.kind"),
        (["body", "definition", "steps", 2, "branch", "else"], "steps.2.else"),
        (
            ["body", "definition", "steps", 2, "branch", "condition", "event", "within_days"],
            "steps.2.condition.within_days",
        ),
        (
            ["body", "definition", "steps", 2, "branch", "condition", "score", "score", "op"],
            "steps.2.condition.score_op",
        ),
        (
            ["body", "definition", "steps", 4, "email", "variants", 1, "weight"],
            "steps.4.variants.1.weight",
        ),
        (["body", "definition", "exit", "stages", 1], "exit.stages"),
        (["body", "definition", "reentry", "days"], "reentry.days"),
        (["body", "definition", "steps"], "steps"),
        (["body", "thresholds", "mql_score"], "thresholds.mql_score"),
        (["body", "caps", 0, "per"], "caps.0.per"),
        (["body"], ""),
    ],
)
def test_field_names(loc: list[Any], field: str) -> None:
    assert field_name(loc) == field


def test_real_pydantic_problems_of_a_definition_name_the_fields_the_form_has() -> None:
    bad = {
        "trigger": {"kind": "stage_entered", "stage": "vip"},
        "steps": [
            {"kind": "email", "id": "hello"},
            {"kind": "wait", "id": "later", "duration": "soon"},
            {
                "kind": "branch",
                "id": "b",
                "condition": {"event": "x", "within_days": 0},
                "then": "hello",
                "else": "nowhere",
            },
        ],
        "reentry": {"policy": "after_days"},
    }
    with pytest.raises(ValidationError) as caught:
        SequenceDefinition.model_validate(bad)
    # As FastAPI puts them in a 422: under body.definition.
    detail = [{**e, "loc": ["body", "definition", *e["loc"]]} for e in caught.value.errors()]
    errors, general = field_errors(detail)
    assert general == []
    assert {
        "trigger.stage",
        "steps.0.template_id",
        "steps.1.duration",
        "steps.2.condition.within_days",
        "reentry.days",
    } <= set(errors)


def test_a_plain_detail_is_a_message_for_the_whole_form() -> None:
    assert field_errors("sequence is archived") == ({}, ["sequence is archived"])
