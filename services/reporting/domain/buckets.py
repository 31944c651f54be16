"""Which local day, week (from Monday) or month an instant falls in, cheaply in SQL (the
buckets are worked out here; store/reports/bucket_sql.py writes the SQL that uses them).

`date_trunc(unit, ts AT TIME ZONE tz)` per row (and `to_char` of it) costs more than the
rest of a report over the ~50,000 leads of a month. So the local day, week or month starts
are worked out here, once per query, as instants, and each row finds its bucket by binary
search (`width_bucket`) and its label by array index. Rows outside the buckets' span fall
back to the per-row expression, and so does every row when a bucket start is out of step
with the wall clock (clocks going back across midnight, as in St. John's until 2011):
results are always those of the per-row expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.reporting.domain.period import CohortUnit, Period

Unit = Literal["day", "week", "month"]
SPAN_BEFORE = timedelta(days=3 * 366)  # leads first seen earlier take the slow path
SPAN_AFTER = timedelta(days=2 * 366)
_NEAR = timedelta(hours=3)  # more than any DST shift
_EMPTY = datetime(1970, 1, 1, tzinfo=UTC)
VOLUME_SECONDS = 15 * 60  # touch volume is counted per 15 minutes: exact for every zone


def volume_bucket(at: datetime) -> datetime:
    """The 15-minute bucket (UTC) a moment falls in."""
    seconds = int(at.timestamp())
    return datetime.fromtimestamp(seconds - seconds % VOLUME_SECONDS, UTC)


def _first_day(day: date, unit: Unit) -> date:
    if unit == "day":
        return day
    return day - timedelta(days=day.weekday()) if unit == "week" else day.replace(day=1)


def _next(day: date, unit: Unit) -> date:
    if unit in ("day", "week"):
        return day + timedelta(days=1 if unit == "day" else 7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _in_step(start: datetime, midnight: datetime, tz: ZoneInfo) -> bool:
    """Whether instants before `start` show a wall time before `midnight` and those from it
    on one at or after it, in the hours around (a change of UTC offset there, e.g. clocks
    going back across midnight, could break that)."""
    lo, hi = start - _NEAR, start + _NEAR
    if lo.astimezone(tz).utcoffset() == hi.astimezone(tz).utcoffset():
        return start.astimezone(tz).replace(tzinfo=None) == midnight
    # The change happens at a whole second: find the first with the new offset.
    old = lo.astimezone(tz).utcoffset()
    a, z = int(lo.timestamp()), int(hi.timestamp())
    while z - a > 1:
        mid = (a + z) // 2
        a, z = (mid, z) if datetime.fromtimestamp(mid, tz).utcoffset() == old else (a, mid)
    change = datetime.fromtimestamp(z, UTC)

    def wall(t: datetime) -> datetime:
        return t.astimezone(tz).replace(tzinfo=None)

    tick = timedelta(microseconds=1)
    latest_before = [wall(min(change, start) - tick)] + (
        [wall(start - tick)] if change < start else []
    )
    earliest_after = [wall(start)] + ([wall(change)] if change > start else [])
    return max(latest_before) < midnight <= min(earliest_after)


@dataclass(frozen=True)
class Buckets:
    starts: list[datetime]  # instants at which local days/weeks/months start, ascending
    labels: list[str]  # each start's local date, YYYY-MM-DD

    @classmethod
    def spanning(cls, zone: str, unit: Unit, since: datetime, until: datetime) -> Buckets:
        """Buckets from the one holding `since` to the first starting after `until`; none
        (every row on the slow path) when a start is out of step with the wall clock."""
        assert unit in ("day", "week", "month")
        tz = ZoneInfo(zone)
        day = _first_day(since.astimezone(tz).date(), unit)
        starts: list[datetime] = []
        while True:
            at = datetime.combine(day, time(), tz)
            if not _in_step(at.astimezone(UTC), datetime.combine(day, time()), tz):
                return cls([], [])
            starts.append(at)
            if at > until:
                break
            day = _next(day, unit)
        return cls(starts, [s.date().isoformat() for s in starts])

    def label(self, number: int, slow_label: str | None) -> str | None:
        """The label of a row given `number_sql` and `slow_label_sql` of it."""
        return self.labels[number - 1] if number else slow_label

    def params(self) -> dict[str, Any]:
        if not self.starts:
            return {"cb_lo": _EMPTY, "cb_hi": _EMPTY, "cb_starts": [_EMPTY], "cb_labels": [""]}
        return {
            "cb_lo": self.starts[0],
            "cb_hi": self.starts[-1],
            "cb_starts": self.starts,
            "cb_labels": self.labels,
        }


def cohorts_of(period: Period, unit: CohortUnit) -> Buckets:
    """The cohort buckets of the leads active in `period` (first seen before its end)."""
    since = period.start - SPAN_BEFORE
    return Buckets.spanning(period.zone, unit, since, period.end)
