"""Send-time arithmetic: local send windows, business days, durations and frequency caps.

Pure functions, no clock reads: every "now" is a parameter. Instants are timezone-aware
`datetime`s (results are in UTC); local wall times are computed with `zoneinfo`, so daylight
saving changes are handled from the IANA database:

- a local wall time that does not exist (the hour skipped when clocks spring forward) maps
  to the first instant after it, i.e. the moment of the change (02:30 on a New York
  spring-forward day becomes 03:00 EDT);
- a local wall time that happens twice (clocks fall back) maps to its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

WEEKDAYS: frozenset[int] = frozenset({1, 2, 3, 4, 5})
"""ISO weekdays Monday to Friday."""

ALL_DAYS: frozenset[int] = frozenset(range(1, 8))


def _check_days(days: Collection[int]) -> None:
    if not days:
        raise ValueError("at least one day is required (ISO weekdays: 1 = Monday ... 7 = Sunday)")
    wrong = sorted(d for d in days if not 1 <= d <= 7)
    if wrong:
        raise ValueError(f"days are ISO weekdays from 1 (Monday) to 7 (Sunday), not {wrong}")


# JSON Schema's "time" format is RFC 3339's full-time, which has a UTC offset; these are
# local wall times without one (what the API takes and answers, e.g. "09:00:00").
LOCAL_TIME_SCHEMA: dict[str, Any] = {
    "format": "partial-time",
    "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$",
}


class SendWindow(BaseModel):
    """The local hours and days in which marketing email may go out: `[start, end)` local."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time = Field(
        time(9, 0),
        description="local time the window opens (inclusive)",
        json_schema_extra=LOCAL_TIME_SCHEMA,
    )
    end: time = Field(
        time(17, 0),
        description="local time the window closes (exclusive)",
        json_schema_extra=LOCAL_TIME_SCHEMA,
    )
    days: set[int] = Field(
        default_factory=lambda: set(WEEKDAYS),
        description="ISO weekdays on which the window opens (1 = Monday ... 7 = Sunday)",
    )

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a local wall time without a UTC offset, e.g. 09:00")
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: set[int]) -> set[int]:
        _check_days(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SendWindow:
        if self.end <= self.start:
            raise ValueError(
                f"end ({self.end:%H:%M}) must be later than start ({self.start:%H:%M}) "
                "on the same day"
            )
        return self


def resolve_zone(*candidates: str | None, default: str) -> ZoneInfo:
    """The first valid IANA zone name among `candidates`, else `default` (else UTC).

    Invalid, empty or non-string candidates are skipped; this never raises.
    """
    for name in (*candidates, default):
        zone = _zone_or_none(name)
        if zone is not None:
            return zone
    return ZoneInfo("UTC")


def _zone_or_none(name: object) -> ZoneInfo | None:
    if not isinstance(name, str):
        return None
    name = name.strip()
    if not name or len(name) > 255 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _aware(at: datetime, what: str = "at") -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got the naive {at.isoformat()}")


def _naive_local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant at which `zone`'s clocks show `day` `wall`.

    Twice (fall back): the first occurrence. Never (spring forward): the first instant after
    it, which is the moment of the change.
    """
    wanted = datetime.combine(day, wall.replace(tzinfo=None))
    first = wanted.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _naive_local(first, zone) == wanted:
        second = wanted.replace(tzinfo=zone, fold=1).astimezone(UTC)
        return min(first, second) if _naive_local(second, zone) == wanted else first
    # `wanted` does not exist. fold=1 reads it with the offset after the change and lands
    # before the change; fold=0 with the offset before it and lands after. Between the two,
    # local wall time only moves forward: find the first second that reaches `wanted`.
    lo = wanted.replace(tzinfo=zone, fold=1).astimezone(UTC)
    hi = first
    if lo > hi:
        lo, hi = hi, lo
    if _naive_local(lo, zone) >= wanted:
        return lo
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid <= lo:
            break
        if _naive_local(mid, zone) >= wanted:
            hi = mid
        else:
            lo = mid
    return hi


def next_in_window(at: datetime, zone: ZoneInfo, window: SendWindow) -> datetime:
    """The earliest instant at or after `at` inside `window` in `zone` (aware, UTC).

    The window is `[start, end)` in local wall time on the allowed ISO weekdays: exactly at
    `start` is inside, exactly at `end` is not.
    """
    _aware(at)
    at = at.astimezone(UTC)
    day = at.astimezone(zone).date() - timedelta(days=1)
    for _ in range(16):  # a week and a bit always reaches an allowed day
        if day.isoweekday() in window.days:
            opens = local_instant(day, window.start, zone)
            closes = local_instant(day, window.end, zone)
            if at < closes and opens < closes:
                return max(at, opens)
        day += timedelta(days=1)
    raise ValueError("the send window never opens")  # unreachable with a validated window


def add_business_days(
    at: datetime, n: int, zone: ZoneInfo, days: Collection[int] = WEEKDAYS
) -> datetime:
    """`n` business days (ISO weekdays in `days`) after `at`, at the same local wall time.

    Counting starts on the next day: Friday + 1 is Monday, Saturday + 1 is Monday. n = 0 is
    `at` itself. If the wall time does not exist on the resulting day (spring forward), the
    first instant after it.
    """
    _aware(at)
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    _check_days(days)
    if n == 0:
        return at.astimezone(UTC)
    local = at.astimezone(zone)
    day = local.date()
    left = n
    while left:
        day += timedelta(days=1)
        if day.isoweekday() in days:
            left -= 1
    return local_instant(day, local.time(), zone)


_ISO = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?",
    re.IGNORECASE,
)
_SHORT = re.compile(r"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>[smhdw])", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_EXAMPLES = "use ISO 8601 such as 'P2D' or 'PT3H', a number and unit such as '90m', '2h', '3d'"
MAX_DURATION = timedelta(days=3650)


def parse_duration(value: str | int | timedelta) -> timedelta:
    """A duration from ISO 8601 (`P2D`, `PT3H`, `P1DT12H`, `P1W`), a number and a unit
    (`90s`, `90m`, `2h`, `3d`, `1w`), or a whole number of seconds (int or digits).

    Raises ValueError with a message that says what is accepted. Months and years are
    refused (their length varies); negative durations and durations over 10 years too.
    """
    try:
        if isinstance(value, timedelta):
            result = value
        elif isinstance(value, bool):
            raise ValueError(f"a duration is required, not {value!r}; {_EXAMPLES}")
        elif isinstance(value, int):
            result = timedelta(seconds=value)
        elif isinstance(value, str):
            result = _parse_text(value)
        else:
            raise ValueError(f"a duration is required, not {type(value).__name__}; {_EXAMPLES}")
    except OverflowError:  # beyond what timedelta holds (found by fuzzing)
        raise ValueError(f"a duration of at most 10 years (3650 days), got {value!r}") from None
    if result < timedelta(0):
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    if result > MAX_DURATION:
        raise ValueError(f"a duration of at most 10 years (3650 days), got {value!r}")
    return result


def _parse_text(value: str) -> timedelta:
    text = value.strip()
    if not text:
        raise ValueError(f"a duration is required, got an empty string; {_EXAMPLES}")
    if text.isdigit():
        return timedelta(seconds=int(text))
    if text.startswith("-"):
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    if text[0] in "Pp":
        iso = _ISO.fullmatch(text)
        if iso is None or not any(iso.groupdict().values()) or text.upper().endswith("T"):
            if re.search(r"\d+[YM]", text.upper().split("T")[0]):
                raise ValueError(
                    f"{value!r}: months and years are not accepted (their length varies); "
                    "use days or weeks, e.g. 'P30D'"
                )
            raise ValueError(f"{value!r} is not an ISO 8601 duration; {_EXAMPLES}")
        parts = {k: float(v.replace(",", ".")) for k, v in iso.groupdict().items() if v}
        return timedelta(**parts)
    short = _SHORT.fullmatch(text)
    if short is None:
        raise ValueError(f"{value!r} is not a duration; {_EXAMPLES}")
    unit = _UNITS[short["unit"].lower()]
    return timedelta(**{unit: float(short["amount"])})


def _duration(value: Any) -> Any:
    if isinstance(value, str | int | timedelta):
        return parse_duration(value)
    return value


def format_duration(value: timedelta) -> str:
    """ISO 8601 in days and time (`P400D`, `PT1H30M`, `P1DT0.5S`), never years or months,
    which `parse_duration` refuses: pydantic's own `P1Y35D` did not read back in (nor is
    it an RFC 3339 duration; found by fuzzing)."""
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    second = f"{seconds}.{value.microseconds:06d}".rstrip("0").rstrip(".")
    time = "".join(
        f"{n}{unit}"
        for n, unit in ((hours, "H"), (minutes, "M"), (second, "S"))
        if n not in (0, "0")
    )
    days = f"{value.days}D" if value.days else ""
    return f"P{days}T{time}" if time else f"P{days or '0D'}"


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "examples": ["P1D", "PT3H", "90m", "2h", "3d"]},
                {"type": "integer", "minimum": 0, "description": "seconds"},
            ]
        }
    ),
]
"""A pydantic field type accepting everything `parse_duration` does, written back as
ISO 8601 days and time."""


class CapRule(BaseModel):
    """At most `max` sends in any rolling period of `per` (e.g. 1 per day, 3 per week)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max: int = Field(ge=1, le=1_000_000, description="sends allowed in any rolling period of `per`")
    per: Duration = Field(description="the rolling period, e.g. 'P1D', 'P7D', '24h'")

    @field_validator("per")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("the period must be longer than zero")
        return value


def cap_allows(
    sent_at: Sequence[datetime], at: datetime, caps: Sequence[CapRule]
) -> datetime | None:
    """None if one more send at `at` keeps every cap, else the earliest instant it would.

    A cap counts the sends in the rolling period `(t - per, t]` and allows one more while
    that count is below `max`: with 1 per day and a send at 10:00 Monday, the next may go
    at 10:00 Tuesday. `sent_at` are the lead's earlier sends (all sequences).
    """
    _aware(at)
    for moment in sent_at:
        _aware(moment, "every sent_at")
    if not caps:
        return None
    sends = sorted(s.astimezone(UTC) for s in sent_at)
    at = at.astimezone(UTC)

    def allowed(t: datetime) -> bool:
        for cap in caps:
            start = t - cap.per
            if sum(1 for s in sends if start < s <= t) >= cap.max:
                return False
        return True

    if allowed(at):
        return None
    # Counts only drop when a send leaves a period, i.e. at some s + per.
    candidates = sorted({s + cap.per for s in sends for cap in caps if s + cap.per > at})
    for t in candidates:
        if allowed(t):
            return t
    raise AssertionError("unreachable: after the last send plus the longest period, all is clear")
