"""The cohort buckets' fast path (width_bucket over precomputed local week/month starts)
gives exactly what PostgreSQL's per-row date_trunc in the zone gives, in zones whose clocks
change at midnight too, for instants inside and outside the buckets' span."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.domain.buckets import Buckets
from services.reporting.store.reports.bucket_sql import (
    age_sql,
    label_sql,
    number_sql,
    slow_label_sql,
)

ZONES = [
    "UTC",
    "Europe/Paris",
    "America/Havana",  # clocks change at midnight
    "America/Santiago",  # changes at midnight, southern hemisphere
    "Asia/Kolkata",  # +05:30
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -03:30
    "America/Goose_Bay",  # until 2010 clocks went back from 00:01 to 23:01 the day before
    "Antarctica/Vostok",  # +07 -> +05 at 02:00 on Monday 2023-12-18: that midnight came twice
]
SINCE, UNTIL = datetime(2008, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)


def _instants(n: int) -> list[datetime]:
    rng = random.Random(4)
    span = (datetime(2027, 1, 1, tzinfo=UTC) - datetime(2006, 6, 1, tzinfo=UTC)).total_seconds()
    out = [
        datetime(2006, 6, 1, tzinfo=UTC) + timedelta(seconds=rng.random() * span) for _ in range(n)
    ]
    # and instants right at and around local midnights, where buckets change
    for zone_day in range(0, 2000, 7):
        base = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=zone_day)
        out += [base + timedelta(minutes=m) for m in (-61, -1, 0, 1, 59, 60, 61, 180, 300)]
    for change in (datetime(2023, 12, 17, 16, tzinfo=UTC), datetime(2009, 11, 1, 2, tzinfo=UTC)):
        out += [change + timedelta(minutes=10 * m) for m in range(25)]  # Vostok, Goose Bay
    return out


@pytest.mark.parametrize("unit", ["day", "week", "month"])
async def test_fast_and_per_row_cohorts_agree(engine: AsyncEngine, unit: str) -> None:
    instants = _instants(3000)
    slow_label = f"to_char(date_trunc('{unit}', a AT TIME ZONE :tz), 'YYYY-MM-DD')"
    local_a, local_b = "(a AT TIME ZONE :tz)", f"date_trunc('{unit}', b AT TIME ZONE :tz)"
    seconds = 86400 if unit == "day" else 604800
    slow_age = (
        f"floor(date_part('epoch', {local_a} - {local_b}) / {seconds})::int"
        if unit in ("day", "week")
        else f"((date_part('year', {local_a}) - date_part('year', {local_b})) * 12"
        f" + date_part('month', {local_a}) - date_part('month', {local_b}))::int"
    )
    fast_paths = 0
    async with engine.connect() as conn:
        for zone in ZONES:
            buckets = Buckets.spanning(zone, unit, SINCE, UNTIL)  # type: ignore[arg-type]
            fast_paths += bool(buckets.starts)
            rows = (
                await conn.execute(
                    text(
                        f"SELECT a, {label_sql('a', unit)}, {slow_label},"  # type: ignore[arg-type]
                        f" {age_sql('a', 'b', unit)}, {slow_age},"  # type: ignore[arg-type]
                        f" {number_sql('a')}, {slow_label_sql('a', unit)}"  # type: ignore[arg-type]
                        " FROM unnest(CAST(:xs AS timestamptz[]), CAST(:ys AS timestamptz[]))"
                        " AS t(a, b)"
                    ),
                    {
                        "tz": zone,
                        "xs": instants,
                        "ys": [instants[(i * 7919) % len(instants)] for i in range(len(instants))],
                        **buckets.params(),
                    },
                )
            ).all()
            wrong = [
                r for r in rows if r[1] != r[2] or r[3] != r[4] or buckets.label(r[5], r[6]) != r[2]
            ]
            assert not wrong, (zone, wrong[:3])
    assert fast_paths >= 4  # most zones take the fast path; the others fall back
