"""Conditions on a lead or an event: the one evaluator behind scoring's point rules and
nurture's sequence triggers and branches (pure: no I/O, no clock).

Grammar (JSON, as a workspace writes it; `parse(...)` reads it, `Condition` is its type for
a pydantic field)::

    condition := test
               | {"all": [condition, ...]}     every one holds (an empty list holds)
               | {"any": [condition, ...]}     at least one holds (an empty list does not)
               | {"not": condition}            the condition does not hold
    test      := {"field": "<dotted path>", "op": "<op>", "value": <JSON value>}

Fields. A dotted path into the mapping the caller evaluates against: a lead's traits
(`company.employees`), an event's payload (`properties.plan`), or a mapping the caller
builds, e.g. `{"lead": {"traits": ..., "score": 72}, "event": payload}` with paths such as
`lead.score` or `event.properties.plan`. At each level, a key equal to the rest of the path
wins over walking into nested objects (`{"company.size": 5}` answers `company.size`).
A field is *missing* when the path leads nowhere, and *unknown* when it is missing, null,
"" or [].

Ops (`value` is what the test compares with):

    eq        loosely equal: strings without regard to case or surrounding spaces; numbers
              by value, numeric strings included ("1,300" eq 1300); booleans only to
              booleans; other values (lists, objects) with ==
    ne        present and not loosely equal (a missing field is neither eq nor ne;
              {"not": {... "op": "eq"}} holds for a missing field too)
    in        loosely equal to one of `value` (a non-empty list)
    contains  a string field contains `value` as text, case-insensitively; a list field has
              an item loosely equal to `value`
    gt gte lt lte
              numeric comparison (numeric strings count; non-numbers, NaN and infinities
              never compare)
    exists    `value` true or absent: the field is known; false: it is unknown
    matches   `value`, a regular expression, is found (case-insensitively) in the field as
              text; never in a list or an object
    is        exactly equal: strings case-sensitively, numbers by value (1 is 1.0, not
              "1"), booleans only to booleans; `value` null: the field is present and null

A missing or null field satisfies no op but `exists` false and `is` null (and `not` of
anything).

For callers on a hot path, `holds(op, value, lookup(data, path))` evaluates one test
without building models; `check(op, value)` is the validation a stored test passed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    model_validator,
)

Op = Literal["eq", "ne", "in", "contains", "gt", "gte", "lt", "lte", "exists", "matches", "is"]
OPS: frozenset[str] = frozenset(Op.__args__)  # type: ignore[attr-defined]
MAX_REGEX_LENGTH = 500


class _Missing:
    """Where a field path leads nowhere (distinct from a null value)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


# --- fields -------------------------------------------------------------------------------


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (a key equal to the rest of the path wins), or MISSING."""
    node: Any = data
    rest = path
    while True:
        if not isinstance(node, Mapping):
            return MISSING
        if rest in node:
            return node[rest]
        head, dot, rest = rest.partition(".")
        if not dot or head not in node:
            return MISSING
        node = node[head]


def is_known(value: Any) -> bool:
    """Not missing, null, "" or []."""
    return value is not MISSING and value is not None and value != "" and value != []


def number(value: Any) -> float | None:
    """A finite number from a number or a numeric string ("1,300" -> 1300.0); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value.strip().replace(",", ""))
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def loosely_equal(actual: Any, wanted: Any) -> bool:
    """`eq`: strings without regard to case or surrounding spaces, numbers by value (so
    "300" equals 300), booleans only to booleans, anything else with ==."""
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return actual is wanted
    if isinstance(wanted, str) and isinstance(actual, str):
        return actual.strip().casefold() == wanted.strip().casefold()
    a, w = number(actual), number(wanted)
    if a is not None and w is not None:
        return a == w
    if isinstance(actual, str | int | float) or isinstance(wanted, str | int | float):
        return False  # a string and a non-numeric value, or a non-finite number
    return bool(actual == wanted)


def exactly_equal(actual: Any, wanted: Any) -> bool:
    """`is`: same type family and value (1 is 1.0, not "1"; booleans only to booleans)."""
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return actual is wanted
    if isinstance(wanted, str) or isinstance(actual, str):
        return isinstance(actual, str) and actual == wanted
    if isinstance(wanted, int | float):
        return isinstance(actual, int | float) and float(actual) == float(wanted)
    return bool(actual == wanted)


# --- one test -----------------------------------------------------------------------------


def check(op: str, value: Any) -> None:
    """Raise ValueError when `value` does not suit `op` (a test is checked once, when the
    condition is saved, not each time it is evaluated)."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; one of: {', '.join(sorted(OPS))}")
    if op == "exists":
        if value is not None and not isinstance(value, bool):
            raise ValueError("value of op 'exists' must be true, false or left out")
        return
    if value is None and op != "is":
        raise ValueError(f"op {op!r} needs a value")
    if op in ("eq", "ne", "contains", "is"):
        if isinstance(value, list):
            raise ValueError(f"value of op {op!r} must be one value, not a list (use 'in')")
    elif op == "in":
        if not isinstance(value, list) or not value:
            raise ValueError("value of op 'in' must be a non-empty list")
    elif op in ("gt", "gte", "lt", "lte"):
        if number(value) is None or isinstance(value, str | list):
            raise ValueError(f"value of op {op!r} must be a number")
    elif op == "matches":
        if not isinstance(value, str):
            raise ValueError("value of op 'matches' must be a regular expression string")
        if len(value) > MAX_REGEX_LENGTH:
            raise ValueError(f"regular expression longer than {MAX_REGEX_LENGTH} characters")
        try:
            re.compile(value, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None


def holds(op: str, value: Any, actual: Any) -> bool:
    """Whether a field's value (`actual`, from `lookup`) satisfies op/value (checked)."""
    if op == "exists":
        return is_known(actual) is (value is not False)
    if actual is MISSING or actual is None:
        return op == "is" and value is None and actual is None
    if op == "eq":
        return loosely_equal(actual, value)
    if op == "ne":
        return not loosely_equal(actual, value)
    if op == "in":
        return any(loosely_equal(actual, option) for option in value)
    if op == "contains":
        return _contains(actual, value)
    if op in _COMPARE:
        found = number(actual)
        return found is not None and _COMPARE[op](found, float(value))
    if op == "matches":
        if isinstance(actual, dict | list | tuple):
            return False
        return _compiled(value).search(str(actual)) is not None
    if op == "is":
        return exactly_equal(actual, value)
    raise ValueError(f"unknown op {op!r}")


def _contains(actual: Any, value: Any) -> bool:
    if isinstance(actual, str):
        return str(value).casefold() in actual.casefold()
    if isinstance(actual, list | tuple | set | frozenset):
        return any(loosely_equal(item, value) for item in actual)
    return False


_COMPARE = {
    "gt": float.__gt__,
    "gte": float.__ge__,
    "lt": float.__lt__,
    "lte": float.__le__,
}
_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is None:
        if len(_REGEX_CACHE) > 1_000:
            _REGEX_CACHE.clear()
        compiled = _REGEX_CACHE[pattern] = re.compile(pattern, re.IGNORECASE)
    return compiled


# --- conditions as data -------------------------------------------------------------------


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldTest(_Node):
    """One field against a value (see the module's docstring for the ops)."""

    field: str = Field(min_length=1, max_length=200)
    op: Op
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> FieldTest:
        check(self.op, self.value)
        return self

    def holds(self, data: Mapping[str, Any]) -> bool:
        return holds(self.op, self.value, lookup(data, self.field))


class AllOf(_Node):
    all: list[Condition] = Field(max_length=100)

    def holds(self, data: Mapping[str, Any]) -> bool:
        return all(c.holds(data) for c in self.all)


class AnyOf(_Node):
    any: list[Condition] = Field(max_length=100)

    def holds(self, data: Mapping[str, Any]) -> bool:
        return any(c.holds(data) for c in self.any)


class Not(_Node):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    not_: Condition = Field(alias="not")

    def holds(self, data: Mapping[str, Any]) -> bool:
        return not self.not_.holds(data)


def _kind(value: Any) -> str | None:
    if isinstance(value, Mapping):
        for key in ("all", "any", "not", "field"):
            if key in value:
                return key
        return None
    kinds: dict[type, str] = {FieldTest: "field", AllOf: "all", AnyOf: "any", Not: "not"}
    return kinds.get(type(value))


Condition = Annotated[
    Annotated[FieldTest, Tag("field")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Not, Tag("not")],
    Discriminator(
        _kind,
        custom_error_type="condition_kind",
        custom_error_message="a condition has one of the keys 'field', 'all', 'any' or 'not'",
    ),
]

AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


Node = FieldTest | AllOf | AnyOf | Not
_CONDITION: TypeAdapter[Node] = TypeAdapter(Condition)


def parse(value: Any) -> Node:
    """A condition from its JSON form (a dict); pydantic's ValidationError if it is not one."""
    return _CONDITION.validate_python(value)


def evaluate(condition: Node, data: Mapping[str, Any]) -> bool:
    """Whether `condition` holds for `data` (the mapping its field paths point into)."""
    return condition.holds(data)
