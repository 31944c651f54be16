"""What every report shares: the period (local days in a time zone), the lead groups a
report can be broken down by, and the rules for rounding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Breakdown = Literal["source", "medium", "campaign", "sequence", "cohort"]
CohortUnit = Literal["week", "month"]
NO_TOUCH = "(unknown)"  # reporting saw no touchpoint of the lead
NO_VALUE = "(none)"  # a touch without this UTM value (direct), or no sequence


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, aware
    end: datetime  # exclusive, aware
    zone: str = "UTC"
    first: date | None = None
    last: date | None = None

    @classmethod
    def of_days(cls, first: date, last: date, zone: str) -> Period:
        """From the start of `first` to the end of `last`, local days in `zone`."""
        tz = ZoneInfo(zone)
        start = datetime.combine(first, time(), tz)
        end = datetime.combine(last + timedelta(days=1), time(), tz)
        return cls(start, end, zone, first, last)

    @property
    def days(self) -> int:
        assert self.first is not None
        assert self.last is not None
        return (self.last - self.first).days + 1


def rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None
