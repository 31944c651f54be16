"""The lifecycle stages and the rules that move a lead between them (pure, no I/O).

    subscriber -> lead -> mql -> sql -> opportunity -> customer     (+ disqualified, recycled)

- A lead starts as a subscriber (a person we have a record of) and becomes a lead once we
  know who they are (an email or a userId).
- Automatic moves only go forward. One event can pass several (an identified person with a
  high score goes subscriber -> lead -> mql): each is its own transition.
- A recycled lead becomes an MQL again only when its score crosses the threshold anew.
- Sales accept (`sql`) or reject (`recycled`, `disqualified`, with a reason) an MQL.
- Opportunity and customer come from configured events (`Deal Won`) or from the API, from
  any stage, forward only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.scoring.domain.config import ScoringConfig

FUNNEL = ("subscriber", "lead", "mql", "sql", "opportunity", "customer")
SIDE = ("disqualified", "recycled")
STAGES = FUNNEL + SIDE
RANK = {stage: i for i, stage in enumerate(FUNNEL)}
# Where side stages sit for "forward only": recycled is back among leads, disqualified is out.
RANK["recycled"] = RANK["lead"]
RANK["disqualified"] = RANK["lead"]
SALES_DECISIONS = ("sql", "recycled", "disqualified")
DEAL_STAGES = ("opportunity", "customer")
STALLABLE = ("lead", "mql", "sql", "opportunity")  # stages a lead can stall in


class NotAllowed(ValueError):
    """A move the rules forbid; the message says why."""


@dataclass(frozen=True)
class Move:
    from_stage: str | None
    to_stage: str
    reason: str


def automatic(
    stage: str | None,
    *,
    identified: bool,
    score: int,
    fit: int,
    previous_score: int | None,
    config: ScoringConfig,
) -> list[Move]:
    """Moves that the lead's identity and score call for now (forward only)."""
    t = config.thresholds
    qualifies = (
        score >= t.mql_score and fit >= t.mql_fit and (identified or not t.mql_requires_identity)
    )
    why_mql = f"score {score} >= {t.mql_score} and fit {fit} >= {t.mql_fit}"
    if stage == "recycled":
        crossed = previous_score is None or previous_score < t.mql_score
        return (
            [Move("recycled", "mql", f"re-qualified: {why_mql}")] if qualifies and crossed else []
        )
    if stage == "disqualified":
        return []
    moves: list[Move] = []
    if stage is None:
        moves.append(Move(None, "subscriber", "first seen"))
        stage = "subscriber"
    if stage == "subscriber" and identified:
        moves.append(Move("subscriber", "lead", "identified (email or userId known)"))
        stage = "lead"
    if stage in ("subscriber", "lead") and qualifies:  # subscriber: identity not required
        moves.append(Move(stage, "mql", why_mql))
    return moves


def on_event(stage: str | None, event_name: str, config: ScoringConfig) -> list[Move]:
    """The move a configured track event calls for (e.g. `Deal Won` -> customer): straight
    to that stage, never backwards. Stages skipped are not entered (no MQL email to a new
    customer); reporting counts a lead as having reached every funnel stage before its own."""
    target = config.stage_events.get(event_name)
    if target is None or stage is None or RANK[target] <= RANK[stage]:
        return []
    return [Move(stage, target, f"event {event_name!r}")]


def by_hand(stage: str | None, target: str, reason: str) -> Move:
    """A move asked for through the API by sales (checked, one step)."""
    reason = reason.strip()
    if target not in STAGES:
        raise NotAllowed(f"unknown stage {target!r}; stages are {', '.join(STAGES)}")
    if target in SALES_DECISIONS:
        if stage != "mql":
            raise NotAllowed(f"sales accept or reject MQLs; this lead is {stage or 'new'}")
        if target != "sql" and not reason:
            raise NotAllowed(f"a reason is required to move an MQL to {target}")
        return Move(stage, target, reason or "accepted by sales")
    if target in DEAL_STAGES:
        if stage is not None and RANK[target] <= RANK[stage]:
            raise NotAllowed(f"stages only move forward: this lead is already {stage}")
        return Move(stage, target, reason or f"set to {target} through the API")
    raise NotAllowed(
        f"{target} is set automatically from identity and score; "
        f"through the API a lead can go to {', '.join(SALES_DECISIONS + DEAL_STAGES)}"
    )


def overstayed(stage: str, entered: datetime, config: ScoringConfig, now: datetime) -> str | None:
    """Why a lead in `stage` since `entered` is stalled at `now`, or None if it is not (yet):
    an MQL sales has not acted on within the SLA, or a stage held past its limit."""
    if stage == "mql":
        if entered + timedelta(hours=config.mql_sla_hours) <= now:
            return f"MQL not accepted or rejected by sales within {config.mql_sla_hours:g} h"
        return None
    days = config.stage_max_days.get(stage)  # type: ignore[call-overload]
    if days is not None and entered + timedelta(days=days) <= now:
        return f"in stage {stage} for more than {days:g} days"
    return None
