"""Segment's HTTP Tracking API messages: what makes one valid.

Field names are Segment's (`userId`, `anonymousId`, `messageId`, …).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from services.ingest.domain.limits import Limits
from services.ingest.domain.timing import parse_time

TYPES = ("track", "identify", "page", "screen", "group", "alias")
OBJECT_FIELDS = ("properties", "traits", "context", "integrations")
ID_FIELDS = ("userId", "anonymousId", "messageId", "previousId", "groupId")
STRING_FIELDS = ("event", "name", "category", "writeKey")
# A JSON-escaped NUL (an even number of backslashes before it, so not a literal "\u0000").
NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
REQUIRED_BY_TYPE = {"track": ("event",), "alias": ("previousId",), "group": ("groupId",)}
OVER_SIZE = "limit per event"  # how a size problem's message ends (answered 413, not 400)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def check(raw: Any, *, kind: str | None, limits: Limits) -> list[Problem]:
    """Every problem with one message (an empty list means it is valid)."""
    if not isinstance(raw, dict):
        return [Problem("(event)", "must be a JSON object")]
    problems = _size_problems(orjson.dumps(raw), limits)
    msg_type = kind or raw.get("type")
    if msg_type not in TYPES:
        problems.append(
            Problem("type", f"unknown type {msg_type!r}; expected one of {', '.join(TYPES)}")
        )
    for name in ID_FIELDS:
        value = raw.get(name)
        if value is not None and not (
            isinstance(value, str | int) and not isinstance(value, bool) and str(value)
        ):
            problems.append(Problem(name, "must be a non-empty string"))
    if not _present(raw, "userId") and not _present(raw, "anonymousId"):
        problems.append(Problem("userId", "either userId or anonymousId is required"))
    for name in REQUIRED_BY_TYPE.get(str(msg_type), ()):
        if not _present(raw, name):
            problems.append(Problem(name, f"is required for {msg_type}"))
    for name in STRING_FIELDS:
        if raw.get(name) is not None and not isinstance(raw[name], str):
            problems.append(Problem(name, "must be a string"))
    for name in OBJECT_FIELDS:
        if raw.get(name) is not None and not isinstance(raw[name], dict):
            problems.append(Problem(name, "must be a JSON object"))
    for name in ("timestamp", "sentAt"):
        if raw.get(name) is not None and parse_time(raw[name]) is None:
            problems.append(Problem(name, f"is not an ISO 8601 date-time: {raw[name]!r}"))
    return problems


def _size_problems(encoded: bytes, limits: Limits) -> list[Problem]:
    problems: list[Problem] = []
    if NUL.search(encoded):
        # PostgreSQL stores no NUL in text or jsonb: downstream it would dead-letter the event.
        problems.append(Problem("(event)", "contains a NUL character (\\u0000)"))
    size = len(encoded)
    if size > limits.max_event_bytes:
        problems.append(
            Problem(
                "(event)",
                f"is {size} bytes, over the {limits.max_event_bytes}-byte {OVER_SIZE}",
            )
        )
    return problems


def too_large(problems: list[Problem]) -> bool:
    """Is one of the problems the size limit (the whole request is then answered 413)?"""
    return any(p.message.endswith(OVER_SIZE) for p in problems)


def _present(raw: dict[str, Any], name: str) -> bool:
    value = raw.get(name)
    return value is not None and value != ""
