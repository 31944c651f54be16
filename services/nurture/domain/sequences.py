"""Nurture sequences: what marketers configure, and the step engine that walks it.

Pure: no I/O, no clock reads (`now` is always a parameter). The API stores a
`SequenceDefinition` as one JSON document per sequence version; the scheduler keeps one
`Progress` per enrollment and asks `advance` what to do next.

Event names are compared loosely everywhere (triggers, exits, branch conditions): case,
and the separators ' ', '.', '_' and '-', are ignored, so "Email Clicked" matches the
touchpoint type "email.clicked" and "Demo Booked" matches "demo_booked".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

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

from services.nurture.domain.conditions import (
    as_number,
    properties_match,
    score_holds,
    trait_holds,
)
from services.nurture.domain.timing import (
    ALL_DAYS,
    WEEKDAYS,
    Duration,
    SendWindow,
    add_business_days,
    next_in_window,
)
from shared.events.types import Stage

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"),
    Field(description="lower-case letters, digits, '-' and '_' (1-64 characters)"),
]
TemplateId = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
EventName = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]

FUNNEL: tuple[str, ...] = ("subscriber", "lead", "mql", "sql", "opportunity", "customer")
"""Lifecycle stages in funnel order (disqualified and recycled stand outside it)."""

TOUCHPOINT_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})
EMAIL_EVENT_TYPES = frozenset(
    {"email.sent", "email.opened", "email.clicked", "email.bounced", "email.unsubscribed"}
)
EVENT_TRIGGER_TYPES = TOUCHPOINT_TYPES | EMAIL_EVENT_TYPES
NAMED_EVENT_TYPES = frozenset({"track", "page", "screen"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def event_key(name: str) -> str:
    """How event names compare: case-insensitive, ' ', '.', '_', '-' alike."""
    return re.sub(r"[\s._-]+", " ", name.strip()).casefold()


def _error(loc: tuple[str | int, ...], kind: str, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)


# --------------------------------------------------------------------------- triggers
class StageEnteredTrigger(_Model):
    """The lead entered a lifecycle stage (`lead.lifecycle_changed` with this `to_stage`)."""

    kind: Literal["stage_entered"]
    stage: Stage


class EventTrigger(_Model):
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


class ScoreCrossedTrigger(_Model):
    """The score rose from below `score` to `score` or above (`lead.scored`)."""

    kind: Literal["score_crossed"]
    score: int = Field(ge=1, le=100)


Trigger = Annotated[
    StageEnteredTrigger | EventTrigger | ScoreCrossedTrigger, Field(discriminator="kind")
]


# --------------------------------------------------------------------------- conditions
Op = Literal["gte", "lte", "eq", "ne", "exists", "contains"]


class TraitCondition(_Model):
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


class EventCondition(_Model):
    """The lead did `event` (a track event name or an event type such as `email.clicked`
    / "Email Clicked") within the last `within_days` days (any time known, when absent)."""

    event: EventName
    within_days: int | None = Field(None, ge=1, le=3650)


class ScoreTest(_Model):
    op: Literal["gte", "lte", "gt", "lt", "eq"]
    value: int = Field(ge=0, le=100)


class ScoreCondition(_Model):
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
class Variant(_Model):
    id: Slug
    template_id: TemplateId
    weight: float = Field(1.0, gt=0, le=1_000_000, description="relative share of leads")


class EmailStep(_Model):
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


class WaitStep(_Model):
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


class WindowStep(_Model):
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


class BranchStep(_Model):
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


class ExitCriteria(_Model):
    """What ends an enrollment at once."""

    stages: list[Stage] = Field(
        default_factory=_default_exit_stages,
        description="reaching one of these stages (or a later one in the funnel) exits",
    )
    events: list[EventName] = Field(default_factory=lambda: ["Demo Booked"])
    on_unsubscribe: bool = True
    on_hard_bounce: bool = True


class Reentry(_Model):
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


class SequenceDefinition(_Model):
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


# --------------------------------------------------------------------------- engine
class Facts(BaseModel):
    """What the lead is now, as far as the sequence cares."""

    model_config = ConfigDict(extra="forbid")

    traits: dict[str, Any] = Field(default_factory=dict)
    score: int | None = None
    stage: str | None = None
    timezone: str | None = None
    events: list[tuple[str, datetime]] = Field(
        default_factory=list,
        description="recent events as (name, at): track event names, else the type "
        "(e.g. 'email.clicked')",
    )

    @field_validator("events")
    @classmethod
    def _aware_events(cls, value: list[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
        return [(name, at if at.tzinfo else at.replace(tzinfo=UTC)) for name, at in value]


class Progress(BaseModel):
    """Where an enrollment is. Store it as JSON with the enrollment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step_index: int = Field(0, ge=0)
    variant_by_step: dict[str, str] = Field(default_factory=dict)
    waiting_until: datetime | None = None
    last_step_at: datetime | None = Field(
        None,
        description="when the previous step finished (or the enrollment started): waits "
        "count from here; None means now",
    )


class SendEmail(_Model):
    kind: Literal["send_email"] = "send_email"
    step_id: str
    variant_id: str | None
    template_id: str
    not_before: datetime
    next_progress: Progress

    def progress_after(self, sent_at: datetime) -> Progress:
        """`next_progress`, with the previous step finished when the email actually went."""
        return self.next_progress.model_copy(update={"last_step_at": sent_at.astimezone(UTC)})


class WaitUntil(_Model):
    kind: Literal["wait_until"] = "wait_until"
    at: datetime
    next_progress: Progress


class Completed(_Model):
    kind: Literal["completed"] = "completed"


Decision = SendEmail | WaitUntil | Completed


def choose_variant(variants: Sequence[Variant], enrollment_id: str, step_id: str) -> Variant:
    """A weighted choice that depends only on (enrollment_id, step_id): stable everywhere."""
    if not variants:
        raise ValueError("no variants to choose from")
    digest = hashlib.sha256(f"{enrollment_id}\x1f{step_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(v.weight for v in variants)
    for variant in variants:
        point -= variant.weight
        if point < 0:
            return variant
    return variants[-1]


def email_window(definition: SequenceDefinition, step: EmailStep, window: SendWindow) -> SendWindow:
    """The window an email step sends in: the sequence's own or `window` (the workspace's),
    on its days when business days only apply, else on any day at the same hours."""
    base = definition.send_window or window
    only = (
        definition.business_days_only
        if step.business_days_only is None
        else step.business_days_only
    )
    if only:
        return base
    return base.model_copy(update={"days": set(ALL_DAYS)})


def advance(
    definition: SequenceDefinition,
    progress: Progress,
    facts: Facts,
    now: datetime,
    *,
    enrollment_id: str,
    zone: ZoneInfo,
    window: SendWindow,
) -> Decision:
    """What to do next for an enrollment, walking branches and elapsed waits in one go.

    `window` is the workspace's send window (the sequence's `send_window` overrides it for
    emails; its days are the business days of `wait` steps with business_days). Side
    effect free: persist the returned `next_progress` yourself.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    index = progress.step_index
    anchor = progress.last_step_at.astimezone(UTC) if progress.last_step_at else now
    variants = dict(progress.variant_by_step)
    business_days = (definition.send_window or window).days
    for _ in range(len(definition.steps) + 1):
        if index >= len(definition.steps):
            return Completed()
        step = definition.steps[index]
        if isinstance(step, BranchStep):
            taken = step.then if condition_holds(step.condition, facts, now) else step.else_
            index = definition.step_index(taken)
        elif isinstance(step, WaitStep):
            if step.duration is not None:
                until = anchor + step.duration
            else:
                until = add_business_days(anchor, step.business_days or 0, zone, business_days)
            if until > now:
                return WaitUntil(
                    at=until,
                    next_progress=Progress(
                        step_index=index,
                        variant_by_step=variants,
                        waiting_until=until,
                        last_step_at=anchor,
                    ),
                )
            anchor = until
            index += 1
        elif isinstance(step, WindowStep):
            opens = next_in_window(max(anchor, now), zone, step.window())
            if opens > now:
                return WaitUntil(
                    at=opens,
                    next_progress=Progress(
                        step_index=index,
                        variant_by_step=variants,
                        waiting_until=opens,
                        last_step_at=anchor,
                    ),
                )
            anchor = now
            index += 1
        else:
            variant: Variant | None = None
            if step.variants:
                chosen = variants.get(step.id)
                variant = next((v for v in step.variants if v.id == chosen), None)
                if variant is None:
                    variant = choose_variant(step.variants, enrollment_id, step.id)
                variants[step.id] = variant.id
                template_id = variant.template_id
            else:
                template_id = step.template_id or ""
            not_before = next_in_window(now, zone, email_window(definition, step, window))
            return SendEmail(
                step_id=step.id,
                variant_id=variant.id if variant else None,
                template_id=template_id,
                not_before=not_before,
                next_progress=Progress(
                    step_index=index + 1,
                    variant_by_step=variants,
                    waiting_until=None,
                    last_step_at=not_before,
                ),
            )
    raise AssertionError("unreachable: branches only go forward")


# --------------------------------------------------------------------------- conditions
def condition_holds(
    condition: TraitCondition | EventCondition | ScoreCondition, facts: Facts, now: datetime
) -> bool:
    if isinstance(condition, ScoreCondition):
        return score_holds(facts.score, condition.score.op, condition.score.value)
    if isinstance(condition, EventCondition):
        wanted = event_key(condition.event)
        since = (
            None if condition.within_days is None else now - timedelta(days=condition.within_days)
        )
        return any(
            event_key(name) == wanted and (since is None or since <= at <= now)
            for name, at in facts.events
        )
    return trait_holds(facts.traits, condition.trait, condition.op, condition.value)


# --------------------------------------------------------------------------- lifecycle
def _funnel_rank(stage: str) -> int | None:
    return FUNNEL.index(stage) if stage in FUNNEL else None


def exit_reason(
    definition: SequenceDefinition,
    *,
    stage: str | None = None,
    event: str | None = None,
    unsubscribed: bool = False,
    hard_bounced: bool = False,
) -> str | None:
    """Why a lead with these facts leaves the sequence now, or None.

    Reasons: "unsubscribed", "hard_bounced", "stage:<stage>" (a listed stage, or one later
    in the funnel subscriber → lead → mql → sql → opportunity → customer than a listed
    funnel stage), "event:<event as given>".
    """
    rules = definition.exit
    if unsubscribed and rules.on_unsubscribe:
        return "unsubscribed"
    if hard_bounced and rules.on_hard_bounce:
        return "hard_bounced"
    if stage is not None:
        if stage in rules.stages:
            return f"stage:{stage}"
        rank = _funnel_rank(stage)
        listed = [r for r in (_funnel_rank(s) for s in rules.stages) if r is not None]
        if rank is not None and listed and rank >= min(listed):
            return f"stage:{stage}"
    if event is not None and any(event_key(event) == event_key(e) for e in rules.events):
        return f"event:{event}"
    return None


def may_enroll(
    definition: SequenceDefinition,
    previous: Sequence[tuple[datetime, datetime | None, bool]],
    now: datetime,
) -> Literal[True] | str:
    """True when the lead may be enrolled now, else the reason it may not.

    `previous`: the lead's earlier enrollments in this sequence (any version) as
    (entered_at, exited_at or completed_at or None while active, completed).
    """
    active = [p for p in previous if p[1] is None and not p[2]]
    if active:
        return "already enrolled in this sequence"
    if not previous:
        return True
    policy = definition.reentry
    if policy.policy == "never":
        return "was enrolled before and re-entry is 'never'"
    if policy.policy == "after_exit":
        return True
    last_end = max((exited or entered) for entered, exited, _ in previous)
    ready = last_end + timedelta(days=policy.days or 0)
    if now < ready:
        return (
            f"re-entry only {policy.days} days after the last enrollment ended "
            f"(from {ready.isoformat()})"
        )
    return True


def _payload_dict(payload: Mapping[str, Any] | BaseModel) -> Mapping[str, Any]:
    return payload.model_dump() if isinstance(payload, BaseModel) else payload


def triggered_by(
    definition: SequenceDefinition, event_kind: str, payload: Mapping[str, Any] | BaseModel
) -> bool:
    """Does this event (envelope `type` and payload) start the sequence?

    - stage_entered: `lead.lifecycle_changed` whose `to_stage` is the stage (and differs
      from `from_stage`);
    - score_crossed: `lead.scored` with `previous_score` below and `score` at or above the
      value (no previous score counts as below);
    - event: a touchpoint of that type, named `event` (track: `event`; page/screen: `name`;
      others have no name), whose properties (identify/group: traits) match the filter.
    """
    trigger = definition.trigger
    data = _payload_dict(payload)
    if isinstance(trigger, StageEnteredTrigger):
        return (
            event_kind == "lead.lifecycle_changed"
            and data.get("to_stage") == trigger.stage
            and data.get("from_stage") != trigger.stage
        )
    if isinstance(trigger, ScoreCrossedTrigger):
        if event_kind != "lead.scored":
            return False
        score, previous = as_number(data.get("score")), as_number(data.get("previous_score"))
        return (
            score is not None
            and score >= trigger.score
            and (previous is None or previous < trigger.score)
        )
    if event_kind != trigger.event_type:
        return False
    if trigger.event is not None:
        name = data.get("event") if event_kind == "track" else data.get("name")
        if not isinstance(name, str) or event_key(name) != event_key(trigger.event):
            return False
    if trigger.properties:
        source_key = "traits" if event_kind in ("identify", "group") else "properties"
        source = data.get(source_key)
        if not isinstance(source, Mapping):
            return False
        return properties_match(source, trigger.properties)
    return True
