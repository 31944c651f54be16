"""Point rules: workspace-defined named scores with an auditable ledger (pure: no I/O, no clock).

A workspace that prefers rules to (or next to) the trained model defines a `RuleSet`:

- *fit* rules test the lead's traits ("title matches 'VP': +15"); they hold once per lead
  while the condition holds and are reversed by an entry of the opposite value when it
  stops holding;
- *engagement* rules match events ("visited a page containing /pricing: +10"), once per lead
  or on every matching event.

Each rule feeds a named score (e.g. ``fit_points``). Every point given or taken is a
`LedgerEntry`; a score is the sum of its entries' current values (`current`, which applies the
half-life recorded on the entry), so the ledger always explains the score exactly. Caps are
applied when points are awarded, never when a score is read, for the same reason.

The caller loads a lead's ledger, calls `evaluate` for each event (or with no event, to
re-check fit rules after traits changed) and appends the entries it returns. The decision
record is docs/decisions/0008-point-rules.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.conditions import check, exactly_equal, holds, is_known, lookup

MAX_RULES = 200
MAX_POINTS = 10_000
# Below this, a value counts as zero (float sums of decayed values are not exact).
EPSILON = 1e-9

# The ops a fit rule may use (a subset of shared/conditions.py's, which evaluates them).
Op = Literal["eq", "ne", "in", "contains", "gte", "lte", "exists", "matches"]
Scalar = str | int | float | bool

# Touchpoint types a rule may match (the types ingest and nurture put on the touchpoints and
# email-events topics). A type outside this list is refused rather than never matching.
EVENT_TYPES = frozenset(
    {
        "track",
        "identify",
        "page",
        "screen",
        "group",
        "alias",
        "email.sent",
        "email.opened",
        "email.clicked",
        "email.bounced",
        "email.unsubscribed",
    }
)
PATH_EVENT_TYPES = frozenset({"page", "screen", "email.clicked"})

RuleId = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Short slug, unique in the rule set: lower-case letters, digits, - and _.",
    ),
]
ScoreName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]{0,62}$",
        description="The named score the rule feeds, e.g. fit_points or engagement_points.",
    ),
]


class _RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RuleId
    score: ScoreName
    points: int = Field(
        ge=-MAX_POINTS,
        le=MAX_POINTS,
        description="Points per award; negative points lower the score. Never 0.",
    )
    half_life_days: float | None = Field(
        default=None,
        gt=0,
        le=36_500,
        description="Awarded points halve every this many days; null: they never fade.",
    )
    cap: float | None = Field(
        default=None,
        gt=0,
        description="Largest absolute current total this rule may contribute to its score.",
    )
    description: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Shown in the ledger instead of the generated wording.",
    )

    @field_validator("points")
    @classmethod
    def _points_not_zero(cls, points: int) -> int:
        if points == 0:
            raise ValueError("points must not be 0 (a rule that gives nothing is a mistake)")
        return points


class FitRule(_RuleBase):
    """Points while a trait condition holds: once per lead, reversed when it stops holding."""

    kind: Literal["fit"]
    repeat: Literal["once"] = Field(
        default="once", description="Fit rules hold once per lead while their condition holds."
    )
    trait: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^.\s][^\s]*$",
        description="Dotted path into the lead's traits, e.g. title or company.employees.",
    )
    op: Op
    value: Scalar | list[Scalar] | None = None

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is not None:  # an invalid op has its own error
            check(op, value)
        return value

    @model_validator(mode="after")
    def _value_given(self) -> FitRule:
        if self.value is None and self.op != "exists":
            raise ValueError(f"op {self.op!r} needs a value")
        return self

    def holds(self, traits: Mapping[str, Any]) -> bool:
        """Whether the lead's traits satisfy this rule's condition."""
        return holds(self.op, self.value, lookup(traits, self.trait))


class EngagementRule(_RuleBase):
    """Points for matching events: on the first one only (once) or on each one (every)."""

    kind: Literal["engagement"]
    repeat: Literal["once", "every"] = "every"
    event_type: str = Field(
        description="track, identify, page, screen, email.opened, email.clicked, ...",
    )
    event: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Track event name (exact, case-insensitive); only with event_type track.",
    )
    path_contains: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Case-insensitive text in properties.path, properties.url or the name "
        "(page and screen) or in the clicked link (email.clicked).",
    )
    properties: dict[str, Scalar] | None = Field(
        default=None,
        max_length=20,
        description="Event properties that must be equal (exactly) to these values.",
    )

    @field_validator("event_type")
    @classmethod
    def _known_event_type(cls, event_type: str) -> str:
        if event_type not in EVENT_TYPES:
            known = ", ".join(sorted(EVENT_TYPES))
            raise ValueError(f"unknown event_type {event_type!r}; one of: {known}")
        return event_type

    @model_validator(mode="after")
    def _filters_fit_the_type(self) -> EngagementRule:
        if self.event is not None and self.event_type != "track":
            raise ValueError("event (a track event name) needs event_type 'track'")
        if self.path_contains is not None and self.event_type not in PATH_EVENT_TYPES:
            raise ValueError("path_contains needs event_type 'page', 'screen' or 'email.clicked'")
        return self

    def matches(self, event_type: str, payload: Mapping[str, Any]) -> bool:
        """Whether one event (its type and snake_case touchpoint payload) matches this rule."""
        if event_type != self.event_type:
            return False
        if self.event is not None:
            name = payload.get("event")
            if not isinstance(name, str) or name.strip().casefold() != self.event.casefold():
                return False
        if self.path_contains is not None:
            needle = self.path_contains.casefold()
            if not any(needle in text.casefold() for text in _path_texts(payload)):
                return False
        if self.properties:
            props = payload.get("properties")
            if not isinstance(props, Mapping):
                return False
            for key, wanted in self.properties.items():
                if not exactly_equal(lookup(props, key), wanted):
                    return False
        return True


Rule = Annotated[FitRule | EngagementRule, Field(discriminator="kind")]


class RuleSet(BaseModel):
    """A workspace's point rules; load with `RuleSet.model_validate(json)`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[Rule] = Field(default_factory=list, max_length=MAX_RULES)
    caps: dict[ScoreName, float] = Field(
        default_factory=dict,
        description="Largest absolute total per named score (positive and negative rules "
        "are each held within it).",
    )

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[FitRule | EngagementRule]) -> list[FitRule | EngagementRule]:
        first: dict[str, int] = {}
        for index, rule in enumerate(rules):
            if rule.id in first:
                raise ValueError(
                    f"duplicate rule id {rule.id!r} (rules {first[rule.id]} and {index})"
                )
            first[rule.id] = index
        return rules

    @field_validator("caps")
    @classmethod
    def _positive_caps(cls, caps: dict[str, float]) -> dict[str, float]:
        for score, cap in caps.items():
            if not (cap > 0 and math.isfinite(cap)):
                raise ValueError(f"cap of {score!r} must be a positive number, not {cap}")
        return caps

    @model_validator(mode="after")
    def _caps_name_scores(self) -> RuleSet:
        named = {rule.score for rule in self.rules}
        for score in self.caps:
            if score not in named:
                raise ValueError(f"caps.{score}: no rule feeds a score named {score!r}")
        return self

    def by_id(self) -> dict[str, FitRule | EngagementRule]:
        return {rule.id: rule for rule in self.rules}

    def score_names(self) -> list[str]:
        return sorted({rule.score for rule in self.rules})


class LedgerEntry(BaseModel):
    """Points given (award) or taken back (reverse) by one rule; the score is their sum.

    `points` is the value as awarded, after caps, at `at`; `half_life_days` is the rule's
    half-life at that moment, kept so that editing a rule never rewrites what a lead earned.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_id: str
    score: str
    kind: Literal["fit", "engagement"]
    action: Literal["award", "reverse"] = "award"
    points: float
    at: AwareDatetime
    event_id: str | None = None
    reason: str
    half_life_days: float | None = None


# --- reading the ledger ---------------------------------------------------------------------


def current(entry: LedgerEntry, now: datetime) -> float:
    """The entry's value at `now`: its points, halved every half-life since it was written.

    An entry dated after `now` counts in full (it never grows).
    """
    if entry.half_life_days is None:
        return entry.points
    age_days = max((now - entry.at).total_seconds(), 0.0) / 86_400
    return entry.points * math.pow(0.5, age_days / entry.half_life_days)


def scores(rules: RuleSet, ledger: Iterable[LedgerEntry], now: datetime) -> dict[str, float]:
    """Each named score at `now`: the sum of its entries' current values (not rounded).

    Every score the rules name is present (0.0 without entries), and so is any score that
    only older entries name (a rule since removed or moved).
    """
    totals = dict.fromkeys(rules.score_names(), 0.0)
    for entry in ledger:
        totals[entry.score] = totals.get(entry.score, 0.0) + current(entry, now)
    return totals


def explain_ledger(
    rules: RuleSet, ledger: Iterable[LedgerEntry], now: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Per named score, the rows behind it in ledger order; their `current` values, added in
    that order, are exactly `scores(...)[name]`.

    Each row: rule_id, reason, points (as awarded), current (at `now`), at, event_id.
    """
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in rules.score_names()}
    for entry in ledger:
        rows.setdefault(entry.score, []).append(
            {
                "rule_id": entry.rule_id,
                "reason": entry.reason,
                "points": entry.points,
                "current": current(entry, now),
                "at": entry.at,
                "event_id": entry.event_id,
            }
        )
    return rows


# --- evaluating an event ------------------------------------------------------------------


def evaluate(
    rules: RuleSet,
    ledger: Sequence[LedgerEntry],
    *,
    event_type: str | None,
    payload: Mapping[str, Any],
    traits: Mapping[str, Any],
    event_id: str | None,
    at: datetime,
) -> list[LedgerEntry]:
    """The new ledger entries for one event (or for a trait change when event_type is None).

    `ledger` is the lead's whole ledger so far; the caller appends the result to it. Fit rules
    are re-checked against the current `traits` on every call: one that starts holding is
    awarded, one held whose condition no longer holds (or whose rule was removed, or moved
    to another score) is reversed. Engagement rules are matched against the event. Caps are
    applied to each award on the totals current at `at`, including the entries made earlier
    in the same call. Awards that caps cut to nothing are not written.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    book = _Book(rules, ledger, at)
    by_id = rules.by_id()

    # 1. Reverse held fit rules that no longer hold: it frees room under the caps.
    for rule_id, held in list(book.held_fit.items()):
        rule = by_id.get(rule_id)
        if not isinstance(rule, FitRule) or rule.score != held.score:
            if rule is None:
                text = f"Reversed: rule {rule_id!r} was removed"
            elif isinstance(rule, FitRule):
                text = f"Reversed: rule {rule_id!r} moved to {rule.score}"
            else:
                text = f"Reversed: rule {rule_id!r} is no longer a fit rule"
        elif not rule.holds(traits):
            text = "Reversed: " + _lapse_text(rule, traits)
        else:
            continue
        book.reverse(rule_id, held, text, event_id)
        del book.held_fit[rule_id]

    # 2. Awards, in the rule set's order.
    for rule in rules.rules:
        if isinstance(rule, FitRule):
            if rule.id not in book.held_fit and rule.holds(traits):
                book.award(rule, _fit_text(rule), event_id)
        elif (
            event_type is not None
            and rule.matches(event_type, payload)
            and (rule.repeat == "every" or rule.id not in book.awarded)
        ):
            book.award(rule, _engagement_text(rule), event_id)
    return book.new


class _Held:
    """A fit rule currently awarded to the lead: its score and its latest award."""

    def __init__(self, score: str, award: LedgerEntry) -> None:
        self.score = score
        self.award = award


class _Book:
    """Running totals of one lead's ledger at one instant, updated as entries are added."""

    def __init__(self, rules: RuleSet, ledger: Sequence[LedgerEntry], at: datetime) -> None:
        self.rules = rules
        self.at = at
        self.new: list[LedgerEntry] = []
        self.net: dict[tuple[str, str], float] = {}  # (score, rule_id) -> current total at `at`
        self.entries: dict[str, list[LedgerEntry]] = {}  # rule_id -> its entries
        self.awarded: set[str] = set()  # rule ids with at least one award
        balance: dict[str, int] = {}  # fit rule id -> awards minus reversals
        latest: dict[str, LedgerEntry] = {}  # fit rule id -> its latest award
        for entry in ledger:
            self._count(entry)
            if entry.kind == "fit":
                balance[entry.rule_id] = balance.get(entry.rule_id, 0) + (
                    1 if entry.action == "award" else -1
                )
                if entry.action == "award":
                    latest[entry.rule_id] = entry
        self.held_fit: dict[str, _Held] = {
            rule_id: _Held(latest[rule_id].score, latest[rule_id])
            for rule_id, count in balance.items()
            if count > 0 and rule_id in latest
        }

    def _count(self, entry: LedgerEntry) -> None:
        key = (entry.score, entry.rule_id)
        self.net[key] = self.net.get(key, 0.0) + current(entry, self.at)
        self.entries.setdefault(entry.rule_id, []).append(entry)
        if entry.action == "award":
            self.awarded.add(entry.rule_id)

    def _add(self, entry: LedgerEntry) -> None:
        self.new.append(entry)
        self._count(entry)

    def _not_before_last(self, rule_id: str) -> datetime:
        """`at`, or the rule's latest entry date if later (an event may arrive out of order):
        a reversal and what it cancels then decay from the same instant."""
        dates = [entry.at for entry in self.entries.get(rule_id, ())]
        return max([self.at, *dates])

    def reverse(self, rule_id: str, held: _Held, text: str, event_id: str | None) -> None:
        at = self._not_before_last(rule_id)
        # Earlier award/reversal pairs cancel each other; what is left is the latest award.
        value = sum(
            current(entry, at)
            for entry in self.entries[rule_id]
            if entry.kind == "fit" and entry.score == held.score
        )
        self._add(
            LedgerEntry(
                rule_id=rule_id,
                score=held.score,
                kind="fit",
                action="reverse",
                points=-value,
                at=at,
                event_id=event_id,
                reason=f"{text}: {format_points(-value)}",
                half_life_days=held.award.half_life_days,
            )
        )

    def award(self, rule: FitRule | EngagementRule, text: str, event_id: str | None) -> None:
        points = float(rule.points)
        allowed = points
        limit_note = ""
        if rule.cap is not None:
            room = _room(points, self.net.get((rule.score, rule.id), 0.0), rule.cap)
            if abs(room) < abs(allowed):
                allowed, limit_note = room, f"this rule's cap of {format_number(rule.cap)}"
        score_cap = self.rules.caps.get(rule.score)
        if score_cap is not None:
            # Positive and negative rules are each held within the cap, so that decay (which
            # only shrinks each side) can never push the sum past it between events.
            same_side = sum(
                value
                for (score, _), value in self.net.items()
                if score == rule.score and value * points > 0
            )
            room = _room(points, same_side, score_cap)
            if abs(room) < abs(allowed):
                allowed = room
                limit_note = f"the {rule.score} cap of {format_number(score_cap)}"
        if abs(allowed) < EPSILON:
            return
        reason = f"{text}: {format_points(allowed)}"
        if limit_note:
            reason += f" (of {format_points(points)}, held to {limit_note})"
        at = self.at if isinstance(rule, EngagementRule) else self._not_before_last(rule.id)
        entry = LedgerEntry(
            rule_id=rule.id,
            score=rule.score,
            kind=rule.kind,
            action="award",
            points=allowed,
            at=at,
            event_id=event_id,
            reason=reason,
            half_life_days=rule.half_life_days,
        )
        self._add(entry)
        if isinstance(rule, FitRule):
            self.held_fit[rule.id] = _Held(rule.score, entry)


def _room(points: float, total: float, cap: float) -> float:
    """How much of `points` fits when `total` (same direction) may reach at most `cap`."""
    if points > 0:
        return max(0.0, min(points, cap - max(total, 0.0)))
    return min(0.0, max(points, -cap - min(total, 0.0)))


# --- conditions (shared/conditions.py) ---------------------------------------------------


def _path_texts(payload: Mapping[str, Any]) -> list[str]:
    props = payload.get("properties")
    props = props if isinstance(props, Mapping) else {}
    candidates = (props.get("path"), props.get("url"), payload.get("name"), payload.get("url"))
    return [text for text in candidates if isinstance(text, str) and text]


# --- words a marketer understands ---------------------------------------------------------


def format_number(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_points(value: float) -> str:
    text = format_number(value)
    return text if text.startswith("-") else f"+{text}"


def _quote(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    return f"'{value}'"


def _trait_label(trait: str) -> str:
    words = trait.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _predicate(op: Op, value: Any, *, lapsed: bool) -> str:
    """The condition in words: "is at least 200", or once it stopped holding "is now below 200"."""
    listed = ", ".join(_quote(v) for v in value) if isinstance(value, list) else ""
    shown = _quote(value)
    if op == "eq":
        return f"is no longer {shown}" if lapsed else f"is {shown}"
    if op == "ne":
        return f"is now {shown}" if lapsed else f"is not {shown}"
    if op == "in":
        return f"is no longer one of {listed}" if lapsed else f"is one of {listed}"
    if op == "contains":
        return f"no longer contains {shown}" if lapsed else f"contains {shown}"
    if op == "gte":
        return f"is now below {shown}" if lapsed else f"is at least {shown}"
    if op == "lte":
        return f"is now above {shown}" if lapsed else f"is at most {shown}"
    if op == "matches":
        return f"no longer matches {shown}" if lapsed else f"matches {shown}"
    known = value is not False  # exists
    if lapsed:
        return "is no longer known" if known else "is now known"
    return "is known" if known else "is unknown"


def _fit_text(rule: FitRule) -> str:
    if rule.description:
        return rule.description
    return f"{_trait_label(rule.trait)} {_predicate(rule.op, rule.value, lapsed=False)}"


def _lapse_text(rule: FitRule, traits: Mapping[str, Any]) -> str:
    if rule.description:
        return f"{rule.description} no longer applies"
    label = _trait_label(rule.trait).lower()
    if rule.op != "exists" and not is_known(lookup(traits, rule.trait)):
        return f"{label} is no longer known"
    return f"{label} {_predicate(rule.op, rule.value, lapsed=True)}"


_EVENT_WORDS = {
    "track": "Did any tracked event",
    "identify": "Identified themselves",
    "page": "Visited a page",
    "screen": "Viewed a screen",
    "group": "Joined a group",
    "alias": "Was aliased",
    "email.sent": "Was sent an email",
    "email.opened": "Opened an email",
    "email.clicked": "Clicked a link in an email",
    "email.bounced": "An email bounced",
    "email.unsubscribed": "Unsubscribed from email",
}


def _engagement_text(rule: EngagementRule) -> str:
    if rule.description:
        return rule.description
    if rule.event is not None:
        text = f"Did {rule.event!r}"
    elif rule.path_contains is not None:
        where = {
            "page": "Visited a page",
            "screen": "Viewed a screen",
            "email.clicked": "Clicked an email link",
        }[rule.event_type]
        text = f"{where} containing {rule.path_contains}"
    else:
        text = _EVENT_WORDS.get(rule.event_type, f"{rule.event_type} event")
    if rule.properties:
        text += " with " + ", ".join(f"{k} = {_quote(v)}" for k, v in rule.properties.items())
    return text
