"""Nurture's sequence conditions on the shared evaluator (domain/conditions.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.nurture.domain.conditions import properties_match, score_holds, trait_holds


@pytest.mark.parametrize(
    ("traits", "path", "op", "value", "expected"),
    [
        ({"plan": "Pro "}, "plan", "eq", "pro", True),
        ({"seats": "1,300"}, "seats", "gte", 1000, True),
        ({"seats": "many"}, "seats", "lte", 10, False),
        ({"company": {"employees": 600}}, "company.employees", "gte", 500, True),
        ({"company.employees": 5}, "company.employees", "gte", 500, False),
        ({"title": "VP Sales"}, "title", "contains", "vp", True),
        ({"tags": ["B2B", "saas"]}, "tags", "contains", "b2b", True),
        ({"plan": "pro"}, "plan", "ne", "Pro", False),
        ({}, "plan", "ne", "pro", True),  # nurture's ne: a missing trait is "not pro"
        ({"plan": None}, "plan", "ne", "pro", True),
        ({"plan": ""}, "plan", "exists", None, False),
        ({"plan": "free"}, "plan", "exists", None, True),
        ({}, "plan", "eq", "pro", False),
        ({"vip": True}, "vip", "eq", 1, False),  # booleans only equal booleans
    ],
)
def test_trait_tests(
    traits: dict[str, Any], path: str, op: Any, value: Any, expected: bool
) -> None:
    assert trait_holds(traits, path, op, value) is expected


def test_score_tests() -> None:
    assert score_holds(60, "gte", 60)
    assert not score_holds(60, "gt", 60)
    assert score_holds(59, "lt", 60)
    assert score_holds(60, "eq", 60)
    assert not score_holds(None, "lte", 100)


def test_trigger_property_filters() -> None:
    props = {"plan": "Pro", "company": {"size": "50"}}
    assert properties_match(props, {"plan": "pro", "company.size": 50})
    assert not properties_match(props, {"plan": "free"})
    assert not properties_match(props, {"missing": "x"})
    assert properties_match({"coupon": None}, {"coupon": None})
    assert properties_match(props, {})
