"""Nurture sequences as marketers configure them: trigger, steps (email, wait, window,
branch), exit criteria, re-entry policy. The API stores a `SequenceDefinition` as one JSON
document per sequence version. Pure: no I/O. The step engine that walks a definition is
`engine.py`; what starts and ends an enrollment is `lifecycle.py`.

Event names are compared loosely everywhere (triggers, exits, branch conditions): case,
and the separators ' ', '.', '_' and '-', are ignored, so "Email Clicked" matches the
touchpoint type "email.clicked" and "Demo Booked" matches "demo_booked".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from services.nurture.domain.timing import (
    WEEKDAYS,
    Duration,
    SendWindow,
)
from shared.events.types import EMAIL_TYPES, STAGES, TOUCHPOINT_TYPES, Stage

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"),
    Field(description="lower-case letters, digits, '-' and '_' (1-64 characters)"),
]
TemplateId = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
EventName = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]

FUNNEL: tuple[str, ...] = STAGES[: STAGES.index("customer") + 1]
"""Lifecycle stages in funnel order (disqualified and recycled stand outside it)."""

EVENT_TRIGGER_TYPES = TOUCHPOINT_TYPES | EMAIL_TYPES
NAMED_EVENT_TYPES = frozenset({"track", "page", "screen"})


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def event_key(name: str) -> str:
    """How event names compare: case-insensitive, ' ', '.', '_', '-' alike."""
    return re.sub(r"[\s._-]+", " ", name.strip()).casefold()


def _error(loc: tuple[str | int, ...], kind: str, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)


# --------------------------------------------------------------------------- triggers
class StageEnteredTrigger(StrictModel):
    """The lead entered a lifecycle stage (`lead.lifecycle_changed` with this `to_stage`)."""

    kind: Literal["stage_entered"]
    stage: Stage


class EventTrigger(StrictModel):
    """A touchpoint of `event_type` (a `track` with the name `event`), whose properties
    (traits for identify/group) equal every entry of `properties` (dotted paths allowed)."""

    kind: Literal["event"]
    event_type: str = Field("track", description="track, page, screen, identify, email.clicked…")
    event: EventName | None = Field(
        None, description="the track event's name (page/screen: the page name); required for track"
    )
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("event_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVENT_TRIGGER_TYPES:
            raise ValueError(f"event_type must be one of {', '.join(sorted(EVENT_TRIGGER_TYPES))}")
        return value

    @model_validator(mode="after")
    def _name_fits_type(self) -> EventTrigger:
        if self.event_type == "track" and self.event is None:
            raise ValidationError.from_exception_data(
                "EventTrigger",
                [_error(("event",), "missing", "a track trigger needs the event's name", None)],
            )
        if self.event is not None and self.event_type not in NAMED_EVENT_TYPES:
            raise ValidationError.from_exception_data(
                "EventTrigger",
                [
                    _error(
                        ("event",),
                        "event_unused",
                        f"only track, page and screen events have a name, not {self.event_type}",
                        self.event,
                    )
                ],
            )
        return self


class ScoreCrossedTrigger(StrictModel):
    """The score rose from below `score` to `score` or above (`lead.scored`)."""

    kind: Literal["score_crossed"]
    score: int = Field(ge=1, le=100)


Trigger = Annotated[
    StageEnteredTrigger | EventTrigger | ScoreCrossedTrigger, Field(discriminator="kind")
]


# --------------------------------------------------------------------------- conditions
Op = Literal["gte", "lte", "eq", "ne", "exists", "contains"]


class TraitCondition(StrictModel):
    """A lead trait (dotted path into nested traits, e.g. `company.employees`) against
    `value`. gte/lte compare numbers; eq/ne compare values (strings case-insensitively);
    contains: a substring of a string trait, or a member of a list trait; exists: present
    and not null or empty (no value)."""

    trait: str = Field(min_length=1, max_length=200)
    op: Op
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> TraitCondition:
        problem: str | None = None
        if self.op == "exists":
            if self.value is not None:
                problem = "'exists' takes no value"
        elif self.value is None:
            problem = f"'{self.op}' needs a value"
        elif self.op in ("gte", "lte") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            problem = f"'{self.op}' compares numbers: the value must be a number"
        elif self.op == "contains" and not isinstance(self.value, str | int | float):
            problem = "'contains' needs a text or number value"
        if problem:
            raise ValidationError.from_exception_data(
                "TraitCondition", [_error(("value",), "value_for_op", problem, self.value)]
            )
        return self


class EventCondition(StrictModel):
    """The lead did `event` (a track event name or an event type such as `email.clicked`
    / "Email Clicked") within the last `within_days` days (any time known, when absent)."""

    event: EventName
    within_days: int | None = Field(None, ge=1, le=3650)


class ScoreTest(StrictModel):
    op: Literal["gte", "lte", "gt", "lt", "eq"]
    value: int = Field(ge=0, le=100)


class ScoreCondition(StrictModel):
    """The lead's current score against a value, e.g. {"op": "gte", "value": 60}."""

    score: ScoreTest


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, Mapping):
        for key in ("trait", "event", "score"):
            if key in value:
                return key
        return None
    if isinstance(value, TraitCondition):
        return "trait"
    if isinstance(value, EventCondition):
        return "event"
    if isinstance(value, ScoreCondition):
        return "score"
    return None


Condition = Annotated[
    Annotated[TraitCondition, Tag("trait")]
    | Annotated[EventCondition, Tag("event")]
    | Annotated[ScoreCondition, Tag("score")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition_kind",
        custom_error_message="a condition has one of the keys 'trait', 'event' or 'score'",
    ),
]


# --------------------------------------------------------------------------- steps
class Variant(StrictModel):
    id: Slug
    template_id: TemplateId
    weight: float = Field(1.0, gt=0, le=1_000_000, description="relative share of leads")


class EmailStep(StrictModel):
    """Send one email: `template_id`, or an A/B split over `variants` (then no template_id)."""

    kind: Literal["email"]
    id: Slug
    template_id: TemplateId | None = None
    variants: list[Variant] | None = Field(None, min_length=2, max_length=26)
    business_days_only: bool | None = Field(
        None, description="override of the sequence's business_days_only for this email"
    )

    @model_validator(mode="after")
    def _template_or_variants(self) -> EmailStep:
        errors: list[InitErrorDetails] = []
        if self.variants is not None and self.template_id is not None:
            errors.append(
                _error(
                    ("template_id",),
                    "template_or_variants",
                    "give either template_id or variants (an A/B split), not both",
                    self.template_id,
                )
            )
        elif self.variants is None and self.template_id is None:
            errors.append(
                _error(
                    ("template_id",),
                    "missing",
                    "an email step needs a template_id (or variants for an A/B split)",
                    None,
                )
            )
        seen: set[str] = set()
        for index, variant in enumerate(self.variants or ()):
            if variant.id in seen:
                errors.append(
                    _error(
                        ("variants", index, "id"),
                        "duplicate_id",
                        f"variant id '{variant.id}' is used twice in this step",
                        variant.id,
                    )
                )
            seen.add(variant.id)
        if errors:
            raise ValidationError.from_exception_data("EmailStep", errors)
        return self

    def template_ids(self) -> list[str]:
        if self.variants:
            return [v.template_id for v in self.variants]
        return [self.template_id] if self.template_id else []


class WaitStep(StrictModel):
    """Wait a `duration` ("P2D", "PT3H", "90m", seconds) or `business_days`, counted from
    when the previous step finished (business days: same local time, window's days)."""

    kind: Literal["wait"]
    id: Slug
    duration: Duration | None = None
    business_days: int | None = Field(None, ge=1, le=260)

    @model_validator(mode="after")
    def _one_of(self) -> WaitStep:
        if (self.duration is None) == (self.business_days is None):
            raise ValidationError.from_exception_data(
                "WaitStep",
                [
                    _error(
                        ("duration",),
                        "duration_or_business_days",
                        "a wait step has either a duration (e.g. 'P2D') or business_days",
                        self.duration,
                    )
                ],
            )
        if self.duration is not None and self.duration <= timedelta(0):
            raise ValidationError.from_exception_data(
                "WaitStep",
                [_error(("duration",), "duration", "a wait must be longer than zero", "P0D")],
            )
        return self


class WindowStep(StrictModel):
    """Wait until the lead's local time is inside `[start, end)` on one of `days`."""

    kind: Literal["window"]
    id: Slug
    start: time
    end: time
    days: set[int] = Field(default_factory=lambda: set(WEEKDAYS))

    @model_validator(mode="after")
    def _valid_window(self) -> WindowStep:
        try:
            self.window()
        except ValidationError as error:
            raise ValidationError.from_exception_data(
                "WindowStep",
                [
                    _error(
                        tuple(e["loc"]) or ("end",),
                        "window",
                        e["msg"].removeprefix("Value error, "),
                        e["input"],
                    )
                    for e in error.errors()
                ],
            ) from None
        return self

    def window(self) -> SendWindow:
        return SendWindow(start=self.start, end=self.end, days=self.days)


class BranchStep(StrictModel):
    """Go to step `then` when `condition` holds, else to step `else` (both later steps)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    kind: Literal["branch"]
    id: Slug
    condition: Condition
    then: Slug
    else_: Slug = Field(alias="else")


Step = Annotated[EmailStep | WaitStep | WindowStep | BranchStep, Field(discriminator="kind")]


# --------------------------------------------------------------------------- policies
def _default_exit_stages() -> list[Stage]:
    return ["sql", "customer"]


class ExitCriteria(StrictModel):
    """What ends an enrollment at once."""

    stages: list[Stage] = Field(
        default_factory=_default_exit_stages,
        description="reaching one of these stages (or a later one in the funnel) exits",
    )
    events: list[EventName] = Field(default_factory=lambda: ["Demo Booked"])
    on_unsubscribe: bool = True
    on_hard_bounce: bool = True


class Reentry(StrictModel):
    """May a lead that was enrolled before be enrolled again?"""

    policy: Literal["never", "after_exit", "after_days"] = "never"
    days: int | None = Field(
        None, ge=1, le=3650, description="after_days: days since the last enrollment ended"
    )

    @model_validator(mode="after")
    def _days(self) -> Reentry:
        if self.policy == "after_days" and self.days is None:
            raise ValidationError.from_exception_data(
                "Reentry",
                [_error(("days",), "missing", "policy 'after_days' needs days", None)],
            )
        if self.policy != "after_days" and self.days is not None:
            raise ValidationError.from_exception_data(
                "Reentry",
                [
                    _error(
                        ("days",),
                        "days_unused",
                        f"days only applies to policy 'after_days', not '{self.policy}'",
                        self.days,
                    )
                ],
            )
        return self


class SequenceDefinition(StrictModel):
    """One version of a sequence, as the marketer configured it."""

    trigger: Trigger
    steps: list[Step] = Field(min_length=1, max_length=200)
    exit: ExitCriteria = Field(default_factory=ExitCriteria)
    reentry: Reentry = Field(default_factory=Reentry)
    send_window: SendWindow | None = Field(
        None, description="local hours and days for this sequence's emails (else the workspace's)"
    )
    business_days_only: bool = Field(
        True,
        description="emails go out only on the send window's days (else any day, same hours)",
    )

    @model_validator(mode="after")
    def _step_graph(self) -> SequenceDefinition:
        errors: list[InitErrorDetails] = []
        index_of: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            if step.id in index_of:
                errors.append(
                    _error(
                        ("steps", index, step.kind, "id"),
                        "duplicate_id",
                        f"step id '{step.id}' is already used by step {index_of[step.id] + 1}",
                        step.id,
                    )
                )
            else:
                index_of[step.id] = index
        for index, step in enumerate(self.steps):
            if not isinstance(step, BranchStep):
                continue
            for field, target in (("then", step.then), ("else", step.else_)):
                where = index_of.get(target)
                if where is None:
                    errors.append(
                        _error(
                            ("steps", index, step.kind, field),
                            "unknown_step",
                            f"no step has the id '{target}'",
                            target,
                        )
                    )
                elif where <= index:
                    errors.append(
                        _error(
                            ("steps", index, step.kind, field),
                            "branch_backwards",
                            f"a branch may only go to a later step: '{target}' is step "
                            f"{where + 1}, this branch is step {index + 1} (no loops)",
                            target,
                        )
                    )
        if errors:
            raise ValidationError.from_exception_data("SequenceDefinition", errors)
        return self

    def template_ids(self) -> list[str]:
        """Every template referenced, in step order, without repeats."""
        found: dict[str, None] = {}
        for step in self.steps:
            if isinstance(step, EmailStep):
                found.update(dict.fromkeys(step.template_ids()))
        return list(found)

    def step_index(self, step_id: str) -> int:
        for index, step in enumerate(self.steps):
            if step.id == step_id:
                return index
        raise KeyError(step_id)
