"""When a message happened: client timestamps, corrected for the client's clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 with or without offset (without one, UTC, as Segment does)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def occurred_at(raw: dict[str, Any], received_at: datetime, batch_sent_at: Any = None) -> datetime:
    """Clock-skew corrected time: receivedAt - (sentAt - timestamp) when the client says both."""
    timestamp = parse_time(raw.get("timestamp"))
    sent_at = parse_time(raw.get("sentAt") or batch_sent_at)
    if timestamp is None:
        return received_at
    if sent_at is None:
        return timestamp
    try:
        return received_at - (sent_at - timestamp)
    except OverflowError:  # clocks millennia apart (found by fuzzing): take the client's word
        return timestamp
