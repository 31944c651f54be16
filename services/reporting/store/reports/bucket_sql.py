"""SQL over the cohort and day buckets of domain/buckets.py: each row finds its bucket by
binary search (`width_bucket`) over the bucket starts and its label by array index, and falls
back to the per-row expression outside the buckets' span (see domain/buckets.py). The
expressions need `Buckets.params()` and `:tz`."""

from __future__ import annotations

from services.reporting.domain.buckets import Unit


def number_sql(expr: str) -> str:
    """The number of the bucket an instant falls in (0 on the slow path): see `label`."""
    return f"CASE WHEN {_inside(expr)} THEN {_index(expr)} ELSE 0 END"


def slow_label_sql(expr: str, unit: Unit) -> str:
    """The label of an instant on the slow path (null on the fast one): see `label`."""
    return f"CASE WHEN {_inside(expr)} THEN NULL ELSE {_slow_label(expr, unit)} END"


def _slow_label(expr: str, unit: Unit) -> str:
    return f"to_char(date_trunc('{unit}', {expr} AT TIME ZONE :tz), 'YYYY-MM-DD')"


def _inside(expr: str) -> str:
    return f"({expr} >= :cb_lo AND {expr} < :cb_hi)"


def _index(expr: str) -> str:
    return f"width_bucket({expr}, CAST(:cb_starts AS timestamptz[]))"


def label_sql(expr: str, unit: Unit) -> str:
    """The local date (YYYY-MM-DD) starting the day, week or month an instant falls in."""
    return (
        f"CASE WHEN {_inside(expr)} THEN (CAST(:cb_labels AS text[]))[{_index(expr)}]"
        f" ELSE {_slow_label(expr, unit)} END"
    )


def age_sql(expr: str, first: str, unit: Unit) -> str:
    """Whole local weeks or months from the start of `first`'s bucket to `expr`."""
    local = f"({expr} AT TIME ZONE :tz)"
    start = f"date_trunc('{unit}', {first} AT TIME ZONE :tz)"
    if unit in ("day", "week"):
        seconds = 86400 if unit == "day" else 604800
        slow = f"floor(date_part('epoch', {local} - {start}) / {seconds})::int"
    else:
        slow = (
            f"((date_part('year', {local}) - date_part('year', {start})) * 12"
            f" + date_part('month', {local}) - date_part('month', {start}))::int"
        )
    return (
        f"CASE WHEN {_inside(expr)} AND {_inside(first)}"
        f" THEN {_index(expr)} - {_index(first)} ELSE {slow} END"
    )
