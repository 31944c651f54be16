"""Model inputs in a marketer's words.

Inputs are grouped by what they count (the 7, 30 and 90-day counts of pricing views are one
thing: "viewed pricing"), and each group is described with
the lead's own numbers, e.g. "viewed pricing 3 times in 7 days (5 in 90 days)".
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Mapping
from typing import Any

from services.scoring.domain.features import COUNTED_INPUTS, WINDOWS, Vector

_WINDOWED = re.compile(r"^(?P<base>.+)_(?P<days>\d+)d$")
# group -> (what one of it is, in words, as "did X n times")
COUNTED: dict[str, str] = {
    "visits": "visited the site",
    "events": "did tracked actions",
    "pricing_views": "viewed pricing",
    "demo_views": "viewed the demo page",
    "high_intent": "showed buying intent (pricing, demo, trial)",
    "form_fills": "filled in forms",
    "email_opens": "opened emails",
    "email_clicks": "clicked links in emails",
    "careers_views": "looked at careers pages",
}
# group -> its windowed inputs, e.g. ("pricing_views_7d", 7), ... (worked out once)
_WINDOW_KEYS = {group: [(f"{group}_{w}d", w) for w in WINDOWS] for group in COUNTED}
SENIORITY_WORDS = {
    0: "no job title known",
    1: "individual contributor",
    2: "manager",
    3: "director or head of",
    4: "vice president",
    5: "C-level or founder",
}


def group_of(name: str) -> str:
    """The factor an input belongs to: 'pricing_views_7d' -> 'pricing_views',
    'industry=retail' -> 'industry'."""
    if "=" in name:
        return name.split("=", 1)[0]
    match = _WINDOWED.match(name)
    if match:
        return match["base"]
    return name


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def words(group: str, row: Mapping[str, Any]) -> str:
    """A factor described with this lead's numbers."""
    if group in COUNTED:
        if type(row) is Vector:  # (taken from its counts by position)
            counts = _TAKE_COUNTS[group](row.counts)
        else:
            counts = tuple(row.get(key, 0) for key, _ in _WINDOW_KEYS[group])
        return _counted(group, counts)
    # Other groups read their own input only (free_mail: has_email too): cached by those.
    key = (row.get(group, _MISSING), row.get("has_email") if group == "free_mail" else None)
    try:
        return _described_by(group, key)
    except TypeError:  # an unhashable value
        return _described(group, row)


_MISSING = object()


@functools.lru_cache(maxsize=16384)
def _described_by(group: str, key: tuple[Any, Any]) -> str:
    value, has_email = key
    row = {} if value is _MISSING else {group: value}
    if group == "free_mail":
        row["has_email"] = has_email
    return _described(group, row)


# group -> a Vector's windowed counts of it, shortest window first (taken in C)
_TAKE_COUNTS = {
    group: operator.itemgetter(*(COUNTED_INPUTS.index(key) for key, _ in keys))
    for group, keys in _WINDOW_KEYS.items()
}


@functools.lru_cache(maxsize=16384)
def _counted(group: str, values: tuple[Any, ...]) -> str:
    """(Cached: a few thousand count combinations make every lead.scored's factors.)"""
    what = COUNTED[group]
    counts = [(w, int(n)) for (_, w), n in zip(_WINDOW_KEYS[group], values, strict=True)]
    w, n = next(((w, n) for w, n in counts if n), (0, 0))  # the shortest window with any
    if not n:
        return f"never {what} in the last {WINDOWS[-1]} days"
    w_last, n_last = counts[-1]
    text = f"{what} {_times(n)} in {w} days"
    if n_last != n:
        text += f" ({n_last} in {w_last} days)"
    return text


def _described(group: str, row: Mapping[str, Any]) -> str:
    if group == "total_events":
        return f"{int(row.get('total_events', 0))} interactions in all"
    if group == "seniority":
        return f"job title: {SENIORITY_WORDS.get(int(row.get('seniority', 0)), 'unknown')}"
    if group == "log_company_size":
        size = float(row.get("log_company_size", 0))
        return f"company of about {10**size:,.0f} employees" if size else "company size unknown"
    if group == "has_email":
        return "email address known" if row.get("has_email") else "no email address yet"
    if group == "free_mail":
        if not row.get("has_email"):
            return "email domain unknown"
        return "uses a free-mail address" if row.get("free_mail") else "uses a company email"
    if group in ("industry", "country"):
        value = str(row.get(group, "unknown"))
        return f"{group} unknown" if value.lower() == "unknown" else f"{group}: {value}"
    return group.replace("_", " ")
