"""Timestamps as Segment messages carry them (ISO 8601, `Z` or an offset)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
