"""Lead features, defined once for training and live scoring (no skew between them).

A lead's `FeatureState` is updated incrementally, one event at a time, as daily counters
kept for the longest window (90 days) plus all-time totals; `vector` turns state and traits
into the model's input as of a given moment, so the same code serves a live event and a
training row cut at a past date.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from array import array
from collections.abc import ItemsView, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

WINDOWS = (7, 30, 90)
KEEP_DAYS = max(WINDOWS)

# Page categories, tried in order; the first pattern found in the path, name or URL wins.
PAGE_CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("pricing", re.compile(r"pric|plans?\b|quote", re.I)),
    ("demo", re.compile(r"demo|contact[-_ ]?sales|book|trial", re.I)),
    ("docs", re.compile(r"docs?\b|documentation|api|guide", re.I)),
    ("case_study", re.compile(r"case[-_ ]?stud|customers?\b|success", re.I)),
    ("blog", re.compile(r"blog|news|article", re.I)),
    ("careers", re.compile(r"career|jobs?\b|hiring", re.I)),
)
HIGH_INTENT_PAGES = {"pricing", "demo"}
FORM_EVENT = re.compile(r"form|sign(ed)?[-_ ]?up|submit|regist|download|request", re.I)
HIGH_INTENT_EVENT = re.compile(r"demo|pricing|quote|trial|contact[-_ ]?sales", re.I)
SENIORITY: tuple[tuple[int, re.Pattern[str]], ...] = (
    (
        5,
        re.compile(
            r"\b(ceo|cto|cfo|coo|cmo|cio|ciso|chief|founder|owner|president|partner)\b", re.I
        ),
    ),
    (4, re.compile(r"\b(vp|svp|evp|vice[- ]president)\b", re.I)),
    (3, re.compile(r"\b(director|head of|head)\b", re.I)),
    (2, re.compile(r"\b(manager|lead|principal|senior)\b", re.I)),
)
FREE_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.fr",
        "hotmail.com",
        "hotmail.fr",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
        "zoho.com",
    }
)


def page_category(payload: dict[str, Any]) -> str:
    props = payload.get("properties") or {}
    parts = (props.get("path"), props.get("url"), payload.get("name"), payload.get("category"))
    try:
        return _category_of_parts(parts)
    except TypeError:  # an unhashable value (a list for a name, say): not cached
        return _category_of(_text_of(parts))


def _text_of(parts: tuple[Any, ...]) -> str:
    return " ".join(str(v) for v in parts if v)


@functools.lru_cache(maxsize=8192)
def _category_of_parts(parts: tuple[Any, ...]) -> str:
    """(Cached by the page's path, URL, name and category: a site has few pages.)"""
    return _category_of(_text_of(parts))


@functools.lru_cache(maxsize=8192)
def _category_of(text: str) -> str:
    for category, pattern in PAGE_CATEGORIES:
        if pattern.search(text):
            return category
    return "other"


def counters_of(event_type: str, payload: dict[str, Any]) -> list[str]:
    """The counters one event adds 1 to."""
    return list(_counters(event_type, payload))


def _counters(event_type: str, payload: dict[str, Any]) -> tuple[str, ...]:
    if event_type in ("page", "screen"):
        return _page_counters(event_type, page_category(payload))
    if event_type == "track":
        return _track_counters(str(payload.get("event") or ""))
    return (f"type:{event_type}",)


@functools.lru_cache(maxsize=64)
def _page_counters(event_type: str, category: str) -> tuple[str, ...]:
    counters = (f"type:{event_type}", f"page:{category}")
    return (*counters, "high_intent") if category in HIGH_INTENT_PAGES else counters


@functools.lru_cache(maxsize=8192)
def _track_counters(name: str) -> tuple[str, ...]:
    """(Cached by event name: a workspace tracks a few kinds of action.)"""
    counters = ["type:track"]
    if FORM_EVENT.search(name):
        counters.append("form_fill")
    if HIGH_INTENT_EVENT.search(name):
        counters.append("high_intent")
    return tuple(counters)


@dataclass
class FeatureState:
    """Per-lead counters: by day (last 90 days) and in total, plus first and last activity."""

    daily: dict[str, dict[str, int]] = field(default_factory=dict)  # ISO day -> counter -> n
    totals: dict[str, int] = field(default_factory=dict)
    first_seen: str | None = None
    last_seen: str | None = None

    # `vector`'s counts (COUNTED_INPUTS, by position, as int64) as of the ordinal day
    # `_counted_day`, kept up to date by `add` while the lead's last day stays the same: most
    # events fall on their lead's last day, so few need every day counted again.
    _counted: array[int] | None = field(default=None, repr=False, compare=False)
    _counted_day: int = field(default=0, repr=False, compare=False)

    def add(self, event_type: str, payload: dict[str, Any], at: datetime) -> None:
        """Count one event (incremental: no history is re-read)."""
        stamp = at.isoformat()
        today = stamp[:10]  # at.date().isoformat()
        counters = _counters(event_type, payload)
        day, totals = self.daily.setdefault(today, {}), self.totals
        for counter in counters:
            day[counter] = day.get(counter, 0) + 1
            totals[counter] = totals.get(counter, 0) + 1
        if self.first_seen is None or stamp < self.first_seen:
            self.first_seen = stamp
        if self.last_seen is None or stamp > self.last_seen:
            moved = self.last_seen is None or self.last_seen[:10] != today
            self.last_seen = stamp
            if moved:  # days before the window start may have dropped out
                self._forget_before(_ordinal(today) - KEEP_DAYS)
                self._counted = None  # every day's age changed
        elif _ordinal(today) <= _ordinal(self.last_seen[:10]) - KEEP_DAYS:
            del self.daily[today]  # a late event older than the window: counted in totals only
        if self._counted is not None:
            _count_into(self._counted, counters, self._counted_day - _ordinal(today), 1)

    def counted(self) -> array[int]:
        """The windowed inputs and total_events (COUNTED_INPUTS, in that order) as of the
        last activity (see `vector`); the caller must not change it."""
        if self.last_seen is None:
            return _count(self, date.today().toordinal())
        today = _ordinal(self.last_seen[:10])
        if self._counted is None or self._counted_day != today:
            self._counted, self._counted_day = _count(self, today), today
        return self._counted

    def merge(self, other: FeatureState) -> None:
        """Fold another lead's history into this one (identity stitching)."""
        self._counted = None
        for day, counters in other.daily.items():
            mine = self.daily.setdefault(day, {})
            for name, n in counters.items():
                mine[name] = mine.get(name, 0) + n
        for name, n in other.totals.items():
            self.totals[name] = self.totals.get(name, 0) + n
        self.first_seen = min(filter(None, (self.first_seen, other.first_seen)), default=None)
        self.last_seen = max(filter(None, (self.last_seen, other.last_seen)), default=None)
        if self.last_seen:
            self._forget_before(
                datetime.fromisoformat(self.last_seen).date().toordinal() - KEEP_DAYS
            )

    def _forget_before(self, ordinal: int) -> None:
        for day in [d for d in self.daily if _ordinal(d) <= ordinal]:
            del self.daily[day]

    def as_json(self) -> dict[str, Any]:
        return {
            "daily": self.daily,
            "totals": self.totals,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> FeatureState:
        data = data or {}
        return cls(
            dict(data.get("daily") or {}),
            dict(data.get("totals") or {}),
            data.get("first_seen"),
            data.get("last_seen"),
        )


def seniority(title: Any) -> int:
    """5 C-level/founder, 4 VP, 3 director/head, 2 manager/lead, 1 other title, 0 unknown."""
    if not isinstance(title, str) or not title.strip():
        return 0
    return next((level for level, pattern in SENIORITY if pattern.search(title)), 1)


def _nested(traits: dict[str, Any], name: str) -> dict[str, Any]:
    value = traits.get(name)
    return value if isinstance(value, dict) else {}


def company_size(traits: dict[str, Any]) -> float:
    company = _nested(traits, "company")
    for value in (
        traits.get("company_size"),
        traits.get("employees"),
        company.get("employees"),
        company.get("size"),
    ):
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return 0.0


def email_domain(traits: dict[str, Any]) -> str | None:
    email = traits.get("email")
    if isinstance(email, str) and "@" in email:
        return email.rsplit("@", 1)[1].strip().lower()
    return None


@functools.lru_cache(maxsize=4096)
def _ordinal(day: str) -> int:
    return date.fromisoformat(day).toordinal()


# counter -> the model inputs it adds to (e.g. "page:pricing" -> pricing_views)
_INPUTS_OF: dict[str, tuple[str, ...]] = {
    "type:page": ("visits",),
    "type:screen": ("visits",),
    "type:track": ("events",),
    "page:pricing": ("pricing_views",),
    "page:demo": ("demo_views",),
    "high_intent": ("high_intent",),
    "form_fill": ("form_fills",),
    "type:email.opened": ("email_opens",),
    "type:email.clicked": ("email_clicks",),
    "page:careers": ("careers_views",),
}

# The model's inputs, in the order a Vector holds them. Numbers: the windowed counts
# (shortest window first), total_events, then who the person is; categorical strings last.
WINDOWED_INPUTS = tuple(
    f"{name}_{w}d" for w in WINDOWS for name in dict.fromkeys(sum(_INPUTS_OF.values(), ()))
)
COUNTED_INPUTS = (*WINDOWED_INPUTS, "total_events")  # FeatureState.counted(), in this order
FIT_NUMBERS = ("seniority", "log_company_size", "has_email", "free_mail")  # fit_vector's
NUMERIC_INPUTS = (*COUNTED_INPUTS, *FIT_NUMBERS)
CATEGORICAL_INPUTS = ("industry", "country")

# Inputs that describe who the person is; every other input is engagement (what they did).
FIT_INPUTS = frozenset(FIT_NUMBERS)
FIT_CATEGORIES = CATEGORICAL_INPUTS


def is_fit(name: str) -> bool:
    """Is a model input (DictVectorizer name, e.g. 'industry=software') a fit input?"""
    return name in FIT_INPUTS or name.split("=", 1)[0] in FIT_CATEGORIES


_TOTAL_EVENTS = COUNTED_INPUTS.index("total_events")
# For a day `age` days before the last activity: counter -> the positions (in
# COUNTED_INPUTS) of every windowed input it counts in
_KEYS_BY_AGE: list[dict[str, tuple[int, ...]]] = [
    {
        counter: tuple(
            WINDOWED_INPUTS.index(f"{name}_{w}d") for w in WINDOWS if age < w for name in names
        )
        for counter, names in _INPUTS_OF.items()
    }
    for age in range(max(WINDOWS))
]
_COUNTED = len(COUNTED_INPUTS)
_ZERO_COUNTS = array("q", bytes(8 * _COUNTED))
# input name -> where a Vector holds it: counts i (0 <= i < _COUNTED), fit numbers
# _COUNTED + j, categories ~k (< 0)
_AT: dict[str, int] = {
    **{name: i for i, name in enumerate(NUMERIC_INPUTS)},
    **{name: ~k for k, name in enumerate(CATEGORICAL_INPUTS)},
}
_NAMES = (*NUMERIC_INPUTS, *CATEGORICAL_INPUTS)


class Vector(Mapping[str, Any]):
    """A lead's model input, in fixed order, so the scorer reads whole rows instead of
    looking names up (docs/decisions/0043): `counts` (COUNTED_INPUTS, int64 in an array:
    the scorer takes a batch's in one copy), `fit` (FIT_NUMBERS) and `categories`
    (CATEGORICAL_INPUTS). It is also a read-only mapping by input name (what sklearn's
    DictVectorizer, explanations and the API read), equal to the dict of the same items."""

    __slots__ = ("categories", "counts", "fit")

    def __init__(
        self, counts: array[int] | list[Any], fit: tuple[Any, ...], categories: tuple[Any, ...]
    ) -> None:
        self.counts = counts
        self.fit = fit
        self.categories = categories

    @property
    def numbers(self) -> list[Any]:
        """The numeric inputs, in NUMERIC_INPUTS order."""
        return [*self.counts, *self.fit]

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> Vector:
        """A Vector of any mapping by input name (a Vector: itself). A number it lacks is 0
        (as DictVectorizer reads it); a category it lacks is None (no value: no column),
        one that is not text is taken as its text; names that are not inputs are dropped.
        Counts that are not all integers stay a list (read one by one by the scorer)."""
        if isinstance(row, Vector):
            return row
        values = [row.get(name, 0) for name in COUNTED_INPUTS]
        try:
            counts: array[int] | list[Any] = array("q", values)
        except (TypeError, OverflowError):
            counts = values
        categories = []
        for name in CATEGORICAL_INPUTS:
            value = row.get(name)
            categories.append(value if value is None or isinstance(value, str) else str(value))
        return cls(counts, tuple(row.get(name, 0) for name in FIT_NUMBERS), tuple(categories))

    def __getitem__(self, name: str) -> Any:
        i = _AT[name]
        if i < _COUNTED:
            return self.counts[i] if i >= 0 else self.categories[~i]
        return self.fit[i - _COUNTED]

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in _AT else default

    def __contains__(self, name: object) -> bool:
        return name in _AT

    def __iter__(self) -> Iterator[str]:
        return iter(_NAMES)

    def __len__(self) -> int:
        return len(_NAMES)

    def items(self) -> ItemsView[str, Any]:
        return _Items(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Vector):
            return self.numbers == other.numbers and self.categories == other.categories
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.items())

    def __repr__(self) -> str:
        return f"Vector({self.as_dict()!r})"


class _Items(ItemsView[str, Any]):
    """(name, value) pairs straight from the Vector (DictVectorizer reads every row's)."""

    __slots__ = ("_vector",)

    def __init__(self, vector: Vector) -> None:
        super().__init__(vector)
        self._vector = vector

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        v = self._vector
        return itertools.chain(
            zip(COUNTED_INPUTS, v.counts, strict=True),
            zip(FIT_NUMBERS, v.fit, strict=True),
            zip(CATEGORICAL_INPUTS, v.categories, strict=True),
        )


FitInputs = tuple[tuple[Any, ...], tuple[str, ...]]  # fit_vector: FIT_NUMBERS, categories


def vector(state: FeatureState, traits: dict[str, Any], fit: FitInputs | None = None) -> Vector:
    """The model's input for a lead, as of its last activity: numbers, plus a few
    categorical strings. (How long it has been idle since is not an input: the scorer fades
    engagement with the workspace's half-life, see scorer.py.) `fit` is fit_vector(traits)
    when the caller has it already."""
    numbers, categories = fit if fit is not None else fit_vector(traits)
    return Vector(state.counted()[:], numbers, categories)


def _count(state: FeatureState, today: int) -> array[int]:
    """Windowed inputs of the days in the window ending on the ordinal day `today`, and
    total_events (every event counted in totals), in COUNTED_INPUTS order."""
    counted = _ZERO_COUNTS[:]
    for day, counters in state.daily.items():
        age = today - _ordinal(day)
        if 0 <= age < KEEP_DAYS:
            keys_of = _KEYS_BY_AGE[age]
            for name, n in counters.items():
                for key in keys_of.get(name, ()):
                    counted[key] += n
    counted[_TOTAL_EVENTS] = sum(v for k, v in state.totals.items() if k.startswith("type:"))
    return counted


def _count_into(counted: array[int], counters: tuple[str, ...], age: int, n: int) -> None:
    """Add n events of these counters, on a day `age` days before the last, to `_count`'s
    figures."""
    keys_of = _KEYS_BY_AGE[age] if 0 <= age < KEEP_DAYS else {}
    for counter in counters:
        for key in keys_of.get(counter, ()):
            counted[key] += n
        if counter.startswith("type:"):
            counted[_TOTAL_EVENTS] += n


def fit_vector(traits: dict[str, Any]) -> FitInputs:
    """The inputs that describe who the person is: FIT_NUMBERS and CATEGORICAL_INPUTS, in
    those orders."""
    domain = email_domain(traits)
    size = company_size(traits)
    industry = traits.get("industry") or _nested(traits, "company").get("industry")
    country = traits.get("country") or _nested(traits, "address").get("country")
    return (
        (
            seniority(traits.get("title")),
            math.log10(size) if size else 0.0,
            int(domain is not None),
            int(domain in FREE_MAIL) if domain else 0,
        ),
        (str(industry or "unknown").lower(), str(country or "unknown").upper()),
    )
