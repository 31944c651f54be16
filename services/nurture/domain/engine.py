"""The step engine: where an enrollment is (``Progress``), what the lead is (``Facts``), and
``advance``, which walks a sequence version and says what to do next: send an email, wait
until a moment, or the sequence is completed.

Pure: no I/O, no clock reads (`now` is always a parameter). The scheduler keeps one
`Progress` per enrollment and asks `advance` what to do next.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.nurture.domain.conditions import score_holds, trait_holds
from services.nurture.domain.sequences import (
    BranchStep,
    EmailStep,
    EventCondition,
    ScoreCondition,
    SequenceDefinition,
    StrictModel,
    TraitCondition,
    Variant,
    WaitStep,
    WindowStep,
    event_key,
)
from services.nurture.domain.timing import (
    ALL_DAYS,
    SendWindow,
    add_business_days,
    next_in_window,
)


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


class SendEmail(StrictModel):
    kind: Literal["send_email"] = "send_email"
    step_id: str
    variant_id: str | None
    template_id: str
    not_before: datetime
    next_progress: Progress

    def progress_after(self, sent_at: datetime) -> Progress:
        """`next_progress`, with the previous step finished when the email actually went."""
        return self.next_progress.model_copy(update={"last_step_at": sent_at.astimezone(UTC)})


class WaitUntil(StrictModel):
    kind: Literal["wait_until"] = "wait_until"
    at: datetime
    next_progress: Progress


class Completed(StrictModel):
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
    walk = _Walk(
        index=progress.step_index,
        anchor=progress.last_step_at.astimezone(UTC) if progress.last_step_at else now,
        variants=dict(progress.variant_by_step),
    )
    business_days = (definition.send_window or window).days
    for _ in range(len(definition.steps) + 1):
        if walk.index >= len(definition.steps):
            return Completed()
        step = definition.steps[walk.index]
        if isinstance(step, BranchStep):
            taken = step.then if condition_holds(step.condition, facts, now) else step.else_
            walk.index = definition.step_index(taken)
            continue
        if isinstance(step, WaitStep):
            until = _wait_until(step, walk.anchor, zone, business_days)
        elif isinstance(step, WindowStep):
            until = next_in_window(max(walk.anchor, now), zone, step.window())
        else:
            return _send_email(definition, step, walk, now, enrollment_id, zone, window)
        if until > now:
            return walk.wait(until)
        # An elapsed wait counts from when it ended; an open window from now.
        walk.anchor = until if isinstance(step, WaitStep) else now
        walk.index += 1
    raise AssertionError("unreachable: branches only go forward")


@dataclass
class _Walk:
    """Where ``advance`` is: the step, when the previous one finished, the A/B choices."""

    index: int
    anchor: datetime
    variants: dict[str, str]

    def wait(self, until: datetime) -> WaitUntil:
        return WaitUntil(
            at=until,
            next_progress=Progress(
                step_index=self.index,
                variant_by_step=self.variants,
                waiting_until=until,
                last_step_at=self.anchor,
            ),
        )


def _wait_until(
    step: WaitStep, anchor: datetime, zone: ZoneInfo, business_days: set[int]
) -> datetime:
    if step.duration is not None:
        return anchor + step.duration
    return add_business_days(anchor, step.business_days or 0, zone, business_days)


def _send_email(
    definition: SequenceDefinition,
    step: EmailStep,
    walk: _Walk,
    now: datetime,
    enrollment_id: str,
    zone: ZoneInfo,
    window: SendWindow,
) -> SendEmail:
    """An email step: its template (the A/B variant chosen once and kept), due at the
    first moment of its window."""
    variant: Variant | None = None
    if step.variants:
        chosen = walk.variants.get(step.id)
        variant = next((v for v in step.variants if v.id == chosen), None)
        if variant is None:
            variant = choose_variant(step.variants, enrollment_id, step.id)
        walk.variants[step.id] = variant.id
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
            step_index=walk.index + 1,
            variant_by_step=walk.variants,
            waiting_until=None,
            last_step_at=not_before,
        ),
    )


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
