"""What follows from a lead's new score or stage (pure: the caller loads and writes).

A lead scored again, by a touchpoint (handlers.py) or by the decay job
(workers/maintenance.py), reacts the same way, written once here (`react_to_score`):
`lead.scored` is published when the score moved far enough from the one last published,
and the automatic lifecycle moves it calls for are entered. Each move is a history row and
one `lead.lifecycle_changed` (`enter`), with an id derived from its cause so that a replay
publishes the same events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.scoring.domain import lifecycle, publishing
from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.records import LeadRecord
from shared.events.codec import Record

Factors = list[dict[str, Any]]


@dataclass
class Outcome:
    """What a batch produced besides lead rows (for the outbox and history tables)."""

    events: list[Record] = field(default_factory=list)  # encoded (publishing)
    stages: list[dict[str, Any]] = field(default_factory=list)


def rescore_changes(record: LeadRecord, new: tuple[int, int, int], version: str) -> bool:
    """Whether a score worked out again (score, fit, engagement by model `version`) differs
    from the lead's: otherwise there is nothing to react to."""
    return new != (record.score, record.fit, record.engagement) or record.model_version != version


def worth_publishing(record: LeadRecord, config: ScoringConfig) -> bool:
    """A first score, or one that moved by the workspace's threshold since last published."""
    return record.published_score is None or (
        abs((record.score or 0) - record.published_score) >= config.score_change_to_publish
    )


def react_to_score(
    record: LeadRecord,
    *,
    previous: int | None,
    identified: bool,
    config: ScoringConfig,
    at: datetime,
    cause: object,
    explain: Callable[[], Factors],
    out: Outcome,
) -> bool:
    """The reaction to the lead's new score (already on `record`; `previous` is the score
    before): `lead.scored` with its factors (`explain()`, worked out only then) when worth
    publishing, then the automatic lifecycle moves. Returns whether it published."""
    published = worth_publishing(record, config)
    if published:
        record.factors = explain()
        out.events.append(
            publishing.scored(record, at, publishing.event_id(record.id, "scored", cause))
        )
        record.published_score = record.score
    moves = lifecycle.automatic(
        record.stage,
        identified=identified,
        score=record.score or 0,
        fit=record.fit or 0,
        previous_score=previous,
        config=config,
    )
    for move in moves:
        enter(record, move, actor="auto", at=at, cause=cause, out=out)
    return published


def react_to_track(
    record: LeadRecord,
    event_name: str,
    properties: Mapping[str, Any],
    *,
    config: ScoringConfig,
    at: datetime,
    cause: object,
    out: Outcome,
) -> None:
    """A track event the workspace configured as a stage (`Deal Won` -> customer) moves the
    lead there, with the deal's amount when the event carries one."""
    for move in lifecycle.on_event(record.stage, event_name, config):
        enter(
            record,
            move,
            actor="event",
            at=at,
            cause=cause,
            out=out,
            amount=amount_of(properties),
        )


def adopt_stage(
    record: LeadRecord, folded: LeadRecord, at: datetime, cause: object, out: Outcome
) -> None:
    """`folded` merged into `record`: one `lead.merged`, and a folded lead that had got
    further takes the survivor there."""
    out.events.append(
        publishing.merged(
            record, [folded.id], at, publishing.event_id(record.id, "merged", folded.id)
        )
    )
    if folded.stage and (
        record.stage is None or lifecycle.RANK[folded.stage] > lifecycle.RANK[record.stage]
    ):
        move = lifecycle.Move(
            record.stage, folded.stage, f"merged with {folded.id}, which was {folded.stage}"
        )
        enter(record, move, actor="merge", at=at, cause=cause, out=out)


def enter(
    record: LeadRecord,
    move: lifecycle.Move,
    *,
    actor: str,
    at: datetime,
    cause: object,
    out: Outcome,
    amount: float | None = None,
) -> None:
    """Move a lead to a stage: its row, a history entry and one lead.lifecycle_changed."""
    eid = publishing.event_id(record.id, move.to_stage, cause)
    record.stage, record.stage_entered_at, record.stalled_at = move.to_stage, at, None
    record.changed = True
    out.stages.append(
        {
            "workspace_id": record.workspace_id,
            "lead_id": record.id,
            "stage": move.to_stage,
            "from_stage": move.from_stage,
            "entered_at": at,
            "reason": move.reason,
            "actor": actor,
            "score": record.score,
            "model_version": record.model_version,
            "event_id": eid,
        }
    )
    out.events.append(
        publishing.lifecycle_changed(
            record,
            from_stage=move.from_stage,
            to_stage=move.to_stage,
            reason=move.reason,
            actor=actor,
            at=at,
            eid=eid,
            amount=amount,
        )
    )


def amount_of(properties: Mapping[str, Any]) -> float | None:
    """A deal's amount from a track event's properties (amount, revenue or value)."""
    for key in ("amount", "revenue", "value"):
        value = properties.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None
