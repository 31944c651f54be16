"""shared/conditions.py: the one evaluator of conditions (scoring's point rules, nurture's
triggers and branches)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.conditions import MISSING, check, evaluate, holds, lookup, parse

LEAD = {
    "traits": {
        "title": "VP Sales",
        "company": {"employees": "1,300", "name": "Acme"},
        "company.tier": "gold",
        "tags": ["B2B", "saas"],
        "empty": "",
        "none": None,
        "no_tags": [],
        "active": True,
    },
    "score": 72,
}


def test_lookup_walks_dotted_paths_and_a_dotted_key_wins() -> None:
    assert lookup(LEAD, "traits.company.employees") == "1,300"
    assert lookup(LEAD, "traits.company.tier") == "gold"
    assert lookup(LEAD["traits"], "company.tier") == "gold"
    assert lookup(LEAD, "traits.title.x") is MISSING
    assert lookup(LEAD, "nothing") is MISSING
    assert lookup(LEAD, "traits.none") is None


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("traits.title", "eq", " vp sales ", True),
        ("traits.title", "ne", "VP Sales", False),
        ("traits.missing", "ne", "x", False),  # a missing field is neither eq nor ne
        ("traits.company.employees", "eq", 1300, True),
        ("traits.company.employees", "gte", 1000, True),
        ("traits.company.employees", "gt", 1300, False),
        ("traits.company.employees", "lt", 1301, True),
        ("traits.company.employees", "lte", 5, False),
        ("score", "gt", 71, True),
        ("traits.title", "contains", "sales", True),
        ("traits.tags", "contains", "b2b", True),
        ("traits.tags", "contains", "b2c", False),
        ("traits.title", "in", ["CEO", "vp sales"], True),
        ("traits.title", "matches", "^vp\\b", True),
        ("traits.tags", "matches", "b2b", False),  # never in a list
        ("traits.title", "exists", None, True),
        ("traits.empty", "exists", None, False),
        ("traits.no_tags", "exists", None, False),
        ("traits.none", "exists", False, True),
        ("traits.missing", "exists", False, True),
        ("traits.missing", "eq", "x", False),
        ("traits.active", "eq", True, True),
        ("traits.active", "eq", "true", False),  # booleans only to booleans
        ("traits.company.employees", "is", "1,300", True),
        ("traits.company.employees", "is", 1300, False),  # exactly: not a string
        ("traits.title", "is", "vp sales", False),  # exactly: case counts
        ("score", "is", 72.0, True),
        ("traits.none", "is", None, True),  # present and null
        ("traits.missing", "is", None, False),
        ("traits.empty", "is", None, False),
    ],
)
def test_each_op(field: str, op: str, value: Any, expected: bool) -> None:
    check(op, value)
    assert holds(op, value, lookup(LEAD, field)) is expected
    test = {"field": field, "op": op, "value": value}
    assert evaluate(parse(test), LEAD) is expected


def test_all_any_not() -> None:
    vp = {"field": "traits.title", "op": "contains", "value": "vp"}
    big = {"field": "traits.company.employees", "op": "gte", "value": 5000}
    assert evaluate(parse({"all": [vp, {"not": big}]}), LEAD)
    assert not evaluate(parse({"all": [vp, big]}), LEAD)
    assert evaluate(parse({"any": [big, vp]}), LEAD)
    assert not evaluate(parse({"any": []}), LEAD)
    assert evaluate(parse({"all": []}), LEAD)
    # "not eq" holds where the field is missing, unlike "ne"
    assert evaluate(parse({"not": {"field": "traits.plan", "op": "eq", "value": "pro"}}), LEAD)


@pytest.mark.parametrize(
    ("op", "value", "message"),
    [
        ("gte", "ten", "must be a number"),
        ("in", [], "non-empty list"),
        ("eq", ["a"], "not a list"),
        ("eq", None, "needs a value"),
        ("exists", "yes", "true, false or left out"),
        ("matches", "(", "invalid regular expression"),
        ("matches", "a" * 501, "longer than 500"),
        ("near", 1, "unknown op"),
    ],
)
def test_values_that_do_not_suit_their_op_are_refused(op: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check(op, value)


def test_parse_refuses_what_is_not_a_condition() -> None:
    with pytest.raises(ValidationError, match="one of the keys"):
        parse({"trait": "title", "op": "eq", "value": "x"})
    with pytest.raises(ValidationError, match="must be a number"):
        parse({"all": [{"field": "score", "op": "gt", "value": "high"}]})
    assert parse({"not": {"field": "a", "op": "exists"}}).model_dump(by_alias=True) == {
        "not": {"field": "a", "op": "exists", "value": None}
    }
