"""A lead's life in a sequence: what starts it (``triggered_by``), whether the lead may
enter again (``may_enroll``), and what ends it at once (``exit_reason``). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from services.nurture.domain.conditions import as_number, properties_match
from services.nurture.domain.sequences import (
    FUNNEL,
    ScoreCrossedTrigger,
    SequenceDefinition,
    StageEnteredTrigger,
    event_key,
)


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
