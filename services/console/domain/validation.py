"""FastAPI validation problems (422 `detail`) -> messages per form field.

The services answer 422 with pydantic's errors: `loc` is a path such as
`["body", "definition", "steps", 2, "branch", "condition", "event", "within_days"]`. The
console's form fields are named after the same path, minus the request wrapper and the
discriminator tags pydantic inserts for tagged unions (`branch`, `event`), so each message
can be shown next to the field at fault.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

STEP_KINDS = frozenset({"email", "wait", "window", "branch"})
TRIGGER_KINDS = frozenset({"stage_entered", "event", "score_crossed"})
CONDITION_KINDS = frozenset({"trait", "event", "score"})
WRAPPERS = ("body", "definition")


def _strip(loc: Sequence[Any], wrappers: Sequence[str]) -> list[Any]:
    parts = list(loc)
    for wrapper in wrappers:
        if parts and parts[0] == wrapper:
            parts.pop(0)
    return parts


def field_name(loc: Sequence[Any], wrappers: Sequence[str] = WRAPPERS) -> str:
    """The form field a problem at `loc` belongs to ("" when the whole form)."""
    parts = _strip(loc, wrappers)
    if not parts:
        return ""
    head = parts[0]
    if head == "trigger":
        rest = parts[1:]
        if rest and rest[0] in TRIGGER_KINDS:
            rest = rest[1:]
        return "trigger." + (str(rest[0]) if rest else "kind")
    if head == "steps" and len(parts) >= 2 and isinstance(parts[1], int):
        index, rest = parts[1], parts[2:]
        if rest and rest[0] in STEP_KINDS:
            rest = rest[1:]
        if not rest:
            return f"steps.{index}.kind"
        if rest[0] == "condition":
            cond = rest[1:]
            if cond and cond[0] in CONDITION_KINDS:
                kind, cond = cond[0], cond[1:]
                if kind == "score":
                    cond = cond[1:]  # ["score", "op"] -> score_op
                    return f"steps.{index}.condition.score_" + (str(cond[0]) if cond else "value")
            return f"steps.{index}.condition." + (str(cond[0]) if cond else "kind")
        if rest[0] == "variants" and len(rest) >= 3:
            return f"steps.{index}.variants.{rest[1]}.{rest[2]}"
        return f"steps.{index}.{rest[0]}"
    if head in ("exit", "reentry", "send_window") and len(parts) >= 2:
        return f"{head}.{parts[1]}"
    return ".".join(str(p) for p in parts)


def field_errors(
    detail: Any, wrappers: Sequence[str] = WRAPPERS
) -> tuple[dict[str, list[str]], list[str]]:
    """(messages by field name, messages for the whole form) from a 422's detail."""
    by_field: dict[str, list[str]] = defaultdict(list)
    general: list[str] = []
    if not isinstance(detail, list):
        return {}, [str(detail)]
    for problem in detail:
        if not isinstance(problem, dict):
            general.append(str(problem))
            continue
        message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        name = field_name(problem.get("loc") or [], wrappers)
        if name:
            by_field[name].append(message)
        else:
            general.append(message)
    return dict(by_field), general
