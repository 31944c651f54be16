import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.nurture.domain.timing import (
    ALL_DAYS,
    CapRule,
    SendWindow,
    add_business_days,
    cap_allows,
    local_instant,
    next_in_window,
    parse_duration,
    resolve_zone,
)

NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
EVERY_DAY = SendWindow(days=set(ALL_DAYS))
OFFICE = SendWindow()  # 09:00-17:00, Monday to Friday


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# ------------------------------------------------------------------ SendWindow, zones
def test_send_window_defaults_and_validation() -> None:
    assert (OFFICE.start, OFFICE.end, OFFICE.days) == (time(9), time(17), {1, 2, 3, 4, 5})
    assert SendWindow.model_validate({"start": "10:30", "end": "12:00"}).start == time(10, 30)
    with pytest.raises(ValidationError, match="must be later than start"):
        SendWindow(start=time(17), end=time(9))
    with pytest.raises(ValidationError, match="must be later than start"):
        SendWindow(start=time(9), end=time(9))
    with pytest.raises(ValidationError, match=r"not \[0, 8\]"):
        SendWindow(days={0, 1, 8})
    with pytest.raises(ValidationError, match="at least one day"):
        SendWindow(days=set())
    with pytest.raises(ValidationError, match="extra"):
        SendWindow.model_validate({"start": "09:00", "quiet": True})


def test_resolve_zone_takes_the_first_valid_name_and_never_raises() -> None:
    assert resolve_zone("Europe/Paris", "America/New_York", default="UTC") == PARIS
    assert resolve_zone(None, "Not/AZone", "America/New_York", default="UTC") == NY
    assert (
        resolve_zone("", "   ", "../../etc/passwd", "/etc/localtime", default="Europe/Paris")
        == PARIS
    )
    assert resolve_zone(None, default="America/New_York") == NY
    assert resolve_zone("nonsense", default="also nonsense") == ZoneInfo("UTC")
    assert resolve_zone(123, default="Europe/Paris") == PARIS  # type: ignore[arg-type]


# ------------------------------------------------------------------ next_in_window
def test_window_edges_start_inclusive_end_exclusive() -> None:
    # Wednesday 2024-05-15, New York is UTC-4: the window is 13:00-21:00 UTC.
    assert next_in_window(utc(2024, 5, 15, 13), NY, OFFICE) == utc(2024, 5, 15, 13)
    assert next_in_window(utc(2024, 5, 15, 12, 59, 59), NY, OFFICE) == utc(2024, 5, 15, 13)
    assert next_in_window(utc(2024, 5, 15, 15, 30), NY, OFFICE) == utc(2024, 5, 15, 15, 30)
    just_before_end = utc(2024, 5, 15, 20, 59, 59, 999999)
    assert next_in_window(just_before_end, NY, OFFICE) == just_before_end
    assert next_in_window(utc(2024, 5, 15, 21), NY, OFFICE) == utc(2024, 5, 16, 13)


def test_window_skips_weekends() -> None:
    friday_evening = utc(2024, 5, 17, 22)  # 18:00 in New York
    assert next_in_window(friday_evening, NY, OFFICE) == utc(2024, 5, 20, 13)  # Monday 09:00
    saturday_noon = utc(2024, 5, 18, 16)
    assert next_in_window(saturday_noon, NY, OFFICE) == utc(2024, 5, 20, 13)
    assert next_in_window(saturday_noon, NY, EVERY_DAY) == saturday_noon
    sunday_early = utc(2024, 5, 19, 3)
    assert next_in_window(sunday_early, NY, EVERY_DAY) == utc(2024, 5, 19, 13)


def test_window_uses_the_local_calendar_day() -> None:
    # 02:00 UTC on Saturday is still Friday 22:00 in New York: next is Monday.
    assert next_in_window(utc(2024, 5, 18, 2), NY, OFFICE) == utc(2024, 5, 20, 13)
    # 23:30 UTC on Sunday is already Monday 01:30 in Paris: Monday 09:00 CEST.
    assert next_in_window(utc(2024, 5, 19, 23, 30), PARIS, OFFICE) == utc(2024, 5, 20, 7)


@pytest.mark.parametrize(
    ("at", "zone", "expected"),
    [
        # New York springs forward on Sunday 2024-03-10 (02:00 EST -> 03:00 EDT).
        (utc(2024, 3, 9, 22), NY, utc(2024, 3, 10, 13)),  # Sat 17:00 EST -> Sun 09:00 EDT
        (utc(2024, 3, 10, 5), NY, utc(2024, 3, 10, 13)),  # Sun 00:00 EST, before the change
        (utc(2024, 3, 9, 5), NY, utc(2024, 3, 9, 14)),  # the day before: 09:00 EST
        # ... and falls back on Sunday 2024-11-03 (02:00 EDT -> 01:00 EST).
        (utc(2024, 11, 3, 4), NY, utc(2024, 11, 3, 14)),  # Sun 00:00 EDT -> 09:00 EST
        (utc(2024, 11, 2, 4), NY, utc(2024, 11, 2, 13)),  # Sat: 09:00 EDT
        (utc(2024, 11, 2, 21, 30), NY, utc(2024, 11, 3, 14)),  # Sat 17:30 EDT -> Sun 09:00 EST
        # Paris springs forward on Sunday 2024-03-31 (02:00 CET -> 03:00 CEST).
        (utc(2024, 3, 30, 17), PARIS, utc(2024, 3, 31, 7)),  # Sat 18:00 CET -> Sun 09:00 CEST
        (utc(2024, 3, 31, 0, 30), PARIS, utc(2024, 3, 31, 7)),
        (utc(2024, 3, 30, 0), PARIS, utc(2024, 3, 30, 8)),  # Sat: 09:00 CET
        # ... and falls back on Sunday 2024-10-27 (03:00 CEST -> 02:00 CET).
        (utc(2024, 10, 26, 16), PARIS, utc(2024, 10, 27, 8)),  # Sat 18:00 CEST -> 09:00 CET
        (utc(2024, 10, 27, 0, 30), PARIS, utc(2024, 10, 27, 8)),
        (utc(2024, 10, 26, 0), PARIS, utc(2024, 10, 26, 7)),  # Sat: 09:00 CEST
        (utc(2024, 10, 27, 15, 59), PARIS, utc(2024, 10, 27, 15, 59)),  # Sun 16:59 CET: inside
        (utc(2024, 10, 27, 16), PARIS, utc(2024, 10, 28, 8)),  # Sun 17:00 CET: closed
    ],
)
def test_window_start_across_dst_changes(at: datetime, zone: ZoneInfo, expected: datetime) -> None:
    assert next_in_window(at, zone, EVERY_DAY) == expected


def test_weekday_window_across_dst_weekends() -> None:
    # Friday 17:00 EST before New York's spring forward -> Monday 09:00 EDT (13:00 UTC).
    assert next_in_window(utc(2024, 3, 8, 22), NY, OFFICE) == utc(2024, 3, 11, 13)
    # Friday evening before Paris falls back -> Monday 09:00 CET (08:00 UTC).
    assert next_in_window(utc(2024, 10, 25, 16), PARIS, OFFICE) == utc(2024, 10, 28, 8)


def test_window_opening_in_a_skipped_or_repeated_hour() -> None:
    night = SendWindow(start=time(2, 30), end=time(4), days=set(ALL_DAYS))
    # 02:30 does not exist on 2024-03-10 in New York: the window opens at 03:00 EDT.
    assert next_in_window(utc(2024, 3, 10, 5), NY, night) == utc(2024, 3, 10, 7)
    assert local_instant(datetime(2024, 3, 10).date(), time(2, 30), NY) == utc(2024, 3, 10, 7)
    # 02:30 happens twice on 2024-10-27 in Paris: the first (CEST, 00:30 UTC) counts.
    assert next_in_window(utc(2024, 10, 26, 22), PARIS, night) == utc(2024, 10, 27, 0, 30)
    # and the window stays open through the repeated hour until 04:00 CET (03:00 UTC).
    assert next_in_window(utc(2024, 10, 27, 2, 30), PARIS, night) == utc(2024, 10, 27, 2, 30)
    assert next_in_window(utc(2024, 10, 27, 3), PARIS, night) == utc(2024, 10, 28, 1, 30)


@pytest.mark.parametrize(
    "zone", [NY, PARIS, ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Sydney")]
)
def test_never_inside_quiet_hours(zone: ZoneInfo) -> None:
    rng = random.Random(5)
    window = SendWindow(start=time(9, 15), end=time(11, 45), days={1, 3, 6})
    for _ in range(2000):
        at = utc(2024, 1, 1) + timedelta(seconds=rng.randrange(366 * 86400))
        found = next_in_window(at, zone, window)
        local = found.astimezone(zone)
        assert found >= at
        assert found.tzinfo is UTC
        assert time(9, 15) <= local.time() < time(11, 45)
        assert local.isoweekday() in {1, 3, 6}
        if found > at:  # then it is the very start of a window
            assert local.time() == time(9, 15)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_in_window(datetime(2024, 5, 15, 12), NY, OFFICE)


# ------------------------------------------------------------------ business days
def test_business_days_skip_the_weekend() -> None:
    friday_10 = utc(2024, 5, 17, 14)  # 10:00 EDT
    assert add_business_days(friday_10, 1, NY) == utc(2024, 5, 20, 14)  # Monday 10:00
    assert add_business_days(friday_10, 5, NY) == utc(2024, 5, 24, 14)  # next Friday
    assert add_business_days(friday_10, 6, NY) == utc(2024, 5, 27, 14)
    saturday = utc(2024, 5, 18, 14)
    assert add_business_days(saturday, 1, NY) == utc(2024, 5, 20, 14)
    wednesday = utc(2024, 5, 15, 14)
    assert add_business_days(wednesday, 2, NY) == utc(2024, 5, 17, 14)
    assert add_business_days(wednesday, 0, NY) == wednesday
    assert add_business_days(friday_10, 1, NY, days={1, 2, 3, 4, 5, 6}) == utc(2024, 5, 18, 14)


def test_business_days_keep_the_local_wall_time_across_dst() -> None:
    # Friday 2024-03-08 10:00 EST (15:00 UTC) + 1 -> Monday 10:00 EDT (14:00 UTC).
    assert add_business_days(utc(2024, 3, 8, 15), 1, NY) == utc(2024, 3, 11, 14)
    # Friday 2024-10-25 10:00 CEST (08:00 UTC) + 1 -> Monday 10:00 CET (09:00 UTC).
    assert add_business_days(utc(2024, 10, 25, 8), 1, PARIS) == utc(2024, 10, 28, 9)
    # Saturday 02:30 EST + 1 day: 02:30 does not exist on Sunday -> 03:00 EDT.
    assert add_business_days(utc(2024, 3, 9, 7, 30), 1, NY, days=ALL_DAYS) == utc(2024, 3, 10, 7)
    # Paris Saturday 02:30 CEST + 1: twice on Sunday -> the first (CEST, 00:30 UTC).
    assert add_business_days(utc(2024, 10, 26, 0, 30), 1, PARIS, ALL_DAYS) == utc(
        2024, 10, 27, 0, 30
    )


def test_business_days_refuse_negative_counts() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        add_business_days(utc(2024, 5, 15), -1, NY)


# ------------------------------------------------------------------ durations
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P2D", timedelta(days=2)),
        ("PT3H", timedelta(hours=3)),
        ("PT90M", timedelta(minutes=90)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("P1W", timedelta(weeks=1)),
        ("PT0.5S", timedelta(seconds=0.5)),
        ("p2d", timedelta(days=2)),
        ("90m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("3d", timedelta(days=3)),
        ("1.5h", timedelta(minutes=90)),
        ("45 s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        (" 3600 ", timedelta(hours=1)),
        (3600, timedelta(hours=1)),
        (0, timedelta(0)),
        (timedelta(minutes=5), timedelta(minutes=5)),
    ],
)
def test_durations(text: str | int | timedelta, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("P", "not an ISO 8601 duration"),
        ("PT", "not an ISO 8601 duration"),
        ("P1DT", "not an ISO 8601 duration"),
        ("P1M", "months and years are not accepted"),
        ("P1Y2D", "months and years are not accepted"),
        ("2 days", "not a duration"),
        ("h2", "not a duration"),
        ("-P1D", "negative"),
        ("-5m", "negative"),
        (-5, "negative"),
        ("P4000D", "at most 10 years"),
        (True, "a duration is required"),
        (2.5, "a duration is required"),
    ],
)
def test_duration_errors_say_what_is_accepted(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)  # type: ignore[arg-type]


# ------------------------------------------------------------------ caps
DAILY = CapRule(max=1, per=timedelta(days=1))
WEEKLY = CapRule.model_validate({"max": 3, "per": "P7D"})


def test_cap_one_a_day_is_a_rolling_day() -> None:
    monday_10 = utc(2024, 5, 13, 10)
    assert cap_allows([], monday_10, [DAILY, WEEKLY]) is None
    assert cap_allows([monday_10], utc(2024, 5, 13, 15), [DAILY]) == utc(2024, 5, 14, 10)
    assert cap_allows([monday_10], utc(2024, 5, 14, 9, 59), [DAILY]) == utc(2024, 5, 14, 10)
    assert cap_allows([monday_10], utc(2024, 5, 14, 10), [DAILY]) is None
    assert cap_allows([monday_10], utc(2024, 5, 20), []) is None


def test_cap_three_a_week_and_one_a_day_together() -> None:
    sends = [utc(2024, 5, 13, 10), utc(2024, 5, 14, 11), utc(2024, 5, 15, 9)]
    caps = [DAILY, WEEKLY]
    # Thursday: the daily cap is clear but the week is full until Monday's send is 7 days old.
    assert cap_allows(sends, utc(2024, 5, 16, 12), caps) == utc(2024, 5, 20, 10)
    assert cap_allows(sends, utc(2024, 5, 20, 10), caps) is None
    # Wednesday afternoon: the day is taken (until Thursday 09:00), the week longer.
    assert cap_allows(sends, utc(2024, 5, 15, 15), [DAILY]) == utc(2024, 5, 16, 9)
    assert cap_allows(sends, utc(2024, 5, 15, 15), caps) == utc(2024, 5, 20, 10)
    # Order of sends and their time zones do not matter.
    shuffled = [sends[2].astimezone(NY), sends[0], sends[1].astimezone(PARIS)]
    assert cap_allows(shuffled, utc(2024, 5, 16, 12), caps) == utc(2024, 5, 20, 10)


def test_cap_validation() -> None:
    assert CapRule.model_validate({"max": 1, "per": "24h"}).per == timedelta(days=1)
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        CapRule(max=0, per=timedelta(days=1))
    with pytest.raises(ValidationError, match="longer than zero"):
        CapRule.model_validate({"max": 1, "per": 0})
    with pytest.raises(ValidationError, match="not a duration"):
        CapRule.model_validate({"max": 1, "per": "daily"})
