"""Which local week (from Monday) or month an instant falls in, cheaply in SQL.

`date_trunc(unit, ts AT TIME ZONE tz)` per row (and `to_char` of it) costs more than the
rest of a report over the ~50,000 leads of a month. So the local week or month starts are
worked out here, once per query, as instants, and each row finds its bucket by binary
search (`width_bucket`) and its label by array index. Rows outside the buckets' span fall
back to the per-row expression, and so does every row when a bucket starts near a change
of the zone's UTC offset (a zone changing its clocks at midnight could make the wall-clock
bucket of an instant differ from its instant bucket there): results are always those of
the per-row expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

Unit = Literal["week", "month"]
SPAN_BEFORE = timedelta(days=3 * 366)  # leads first seen earlier take the slow path
SPAN_AFTER = timedelta(days=2 * 366)
_NEAR = timedelta(hours=3)  # more than any DST shift
_EMPTY = datetime(1970, 1, 1, tzinfo=UTC)


def _first_day(day: date, unit: Unit) -> date:
    return day - timedelta(days=day.weekday()) if unit == "week" else day.replace(day=1)


def _next(day: date, unit: Unit) -> date:
    if unit == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True)
class Buckets:
    unit: Unit
    starts: list[datetime]  # instants at which local weeks/months start, ascending
    labels: list[str]  # each start's local date, YYYY-MM-DD

    @classmethod
    def spanning(cls, zone: str, unit: Unit, since: datetime, until: datetime) -> Buckets:
        """Buckets from the one holding `since` to the first starting after `until`; none
        (every row on the slow path) when a start is near a change of UTC offset."""
        assert unit in ("week", "month")
        tz = ZoneInfo(zone)
        day = _first_day(since.astimezone(tz).date(), unit)
        starts: list[datetime] = []
        while True:
            at = datetime.combine(day, time(), tz)
            utc = at.astimezone(UTC)
            if {(utc + d).astimezone(tz).utcoffset() for d in (-_NEAR, _NEAR)} != {at.utcoffset()}:
                return cls(unit, [], [])
            starts.append(at)
            if at > until:
                break
            day = _next(day, unit)
        return cls(unit, starts, [s.date().isoformat() for s in starts])

    def params(self) -> dict[str, Any]:
        if not self.starts:
            return {"cb_lo": _EMPTY, "cb_hi": _EMPTY, "cb_starts": [_EMPTY], "cb_labels": [""]}
        return {
            "cb_lo": self.starts[0],
            "cb_hi": self.starts[-1],
            "cb_starts": self.starts,
            "cb_labels": self.labels,
        }


def _inside(expr: str) -> str:
    return f"({expr} >= :cb_lo AND {expr} < :cb_hi)"


def _index(expr: str) -> str:
    return f"width_bucket({expr}, CAST(:cb_starts AS timestamptz[]))"


def label_sql(expr: str, unit: Unit) -> str:
    """The local date (YYYY-MM-DD) starting the week or month an instant falls in."""
    slow = f"to_char(date_trunc('{unit}', {expr} AT TIME ZONE :tz), 'YYYY-MM-DD')"
    return (
        f"CASE WHEN {_inside(expr)} THEN (CAST(:cb_labels AS text[]))[{_index(expr)}]"
        f" ELSE {slow} END"
    )


def age_sql(expr: str, first: str, unit: Unit) -> str:
    """Whole local weeks or months from the start of `first`'s bucket to `expr`."""
    local = f"({expr} AT TIME ZONE :tz)"
    start = f"date_trunc('{unit}', {first} AT TIME ZONE :tz)"
    if unit == "week":
        slow = f"floor(date_part('epoch', {local} - {start}) / 604800)::int"
    else:
        slow = (
            f"((date_part('year', {local}) - date_part('year', {start})) * 12"
            f" + date_part('month', {local}) - date_part('month', {start}))::int"
        )
    return (
        f"CASE WHEN {_inside(expr)} AND {_inside(first)}"
        f" THEN {_index(expr)} - {_index(first)} ELSE {slow} END"
    )
