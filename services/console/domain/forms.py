"""What the console's forms send, read as values: numbers, lists of words, loose JSON.

The domain reads a form through `FormValues`, the part of a multi-valued form mapping it uses
(starlette's ImmutableMultiDict is one), so no web library is imported here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Protocol, overload


class FormValues(Protocol):
    """A submitted form: one value per name (the first), or every value (`getlist`)."""

    def __contains__(self, key: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __getitem__(self, key: str, /) -> str: ...
    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, /, default: str) -> str: ...
    def getlist(self, key: Any) -> list[str]: ...


def number(text: str | None) -> Any:
    """'3' -> 3, '2.5' -> 2.5, '' -> None; anything else as typed (the API will say why)."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    try:
        return float(value)
    except ValueError:
        return value


def loose_value(text: str | None) -> Any:
    """A trait condition's value: a JSON number, true/false or "quoted text", else text."""
    if text is None or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def words(text: str | None) -> list[str]:
    """'Demo Booked, Trial Started' -> ['Demo Booked', 'Trial Started']."""
    return [w.strip() for w in (text or "").split(",") if w.strip()]


def numbers(form: FormValues, name: str) -> list[Any]:
    """Every value of a repeated field (e.g. checked days), each as `number` reads it."""
    return [number(d) for d in form.getlist(name)]


def stripped(form: FormValues, name: str) -> str:
    return (form.get(name) or "").strip()
