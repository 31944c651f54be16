"""Nurture's sequence conditions evaluated by the one condition evaluator,
``shared/conditions.py`` (the one behind scoring's point rules too).

A sequence definition keeps its own JSON shapes (the API's contract, stored with every
version): a trait test ``{"trait", "op", "value"}``, a score test, and a trigger's
``properties`` filter (path -> value). This module turns each into the shared evaluator's
terms (``lookup`` of a dotted path, ``holds(op, value, found)``), so the field paths, the
loose equality (case-insensitive strings, numbers by value, numeric strings included) and
the comparisons are the shared ones:

- ``eq``, ``gte``, ``lte``, ``contains``: the shared ops of the same name;
- ``exists`` (no value): the shared ``exists`` true (a known value: not missing, null, ""
  or []);
- ``ne``: nurture's ``ne`` also holds for a missing or empty trait ("not Pro" includes "no
  plan at all"), i.e. the shared ``{"not": {"op": "eq"}}``, not the shared ``ne``;
- a trigger's ``properties`` filter: each path present and loosely equal to its value.

Event conditions ("did X within N days") are about the lead's recent events, not a field:
they stay in ``sequences.condition_holds``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from shared.conditions import MISSING, holds, lookup, loosely_equal, number

TraitOp = Literal["gte", "lte", "eq", "ne", "exists", "contains"]
ScoreOp = Literal["gte", "lte", "gt", "lt", "eq"]


def trait_holds(traits: Mapping[str, Any], path: str, op: TraitOp, value: Any) -> bool:
    """A trait test of a branch: the trait at ``path`` against ``value``."""
    found = lookup(traits, path)
    if op == "ne":
        return not holds("eq", value, found)
    if op == "exists":
        return holds("exists", True, found)
    return holds(op, value, found)


def score_holds(score: int | None, op: ScoreOp, value: int) -> bool:
    """A score test of a branch: the lead's current score (None: no score, never holds)."""
    return holds(op, value, score)


def properties_match(source: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """A trigger's filter: every path of ``wanted`` present in ``source`` and loosely equal."""
    for path, expected in wanted.items():
        found = lookup(source, path)
        if found is MISSING or not loosely_equal(found, expected):
            return False
    return True


def as_number(value: Any) -> float | None:
    """A finite number from a number or a numeric string; else None."""
    return number(value)
