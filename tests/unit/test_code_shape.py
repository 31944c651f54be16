"""The shape docs/architecture.md promises the next engineer, checked: short functions in
services/ (a longer one says why), and handler maps that name only known event types."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from shared.events import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 60  # lines of a function, decorators aside
REASON = "long:"  # a comment on the def line or the line above: "# long: <why>"
CONSUMERS = ["scoring", "nurture", "reporting"]


def _long_functions() -> list[str]:
    found = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            said = " ".join(lines[max(node.lineno - 2, 0) : node.lineno])
            if length > LIMIT and REASON not in said:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})")
    return found


def test_functions_fit_on_a_screen_or_say_why() -> None:
    assert _long_functions() == []


@pytest.mark.parametrize("service", CONSUMERS)
def test_handler_maps_name_known_event_types(service: str) -> None:
    handlers = importlib.import_module(f"services.{service}.handlers")
    assert handlers.HANDLERS, f"{service} handles no event type"
    unknown = set(handlers.HANDLERS) - set(EVENT_TYPES)
    assert not unknown, f"{service} maps types shared/events does not define: {unknown}"
