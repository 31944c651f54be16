"""Size and rate limits on what a client may send."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Limits:
    max_event_bytes: int = 32 * 1024
    max_batch_events: int = 2500


class TooLarge(ValueError):
    """The request breaks a size limit (answered 413, naming the limit)."""


def retry_after(reset_time: float, now: float) -> int:
    """Whole seconds a client over its rate waits until the window resets (at least one)."""
    return max(1, math.ceil(reset_time - now))
