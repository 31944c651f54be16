"""A workspace's scoring configuration: thresholds, stage events, timers.

Stored as one JSON document per workspace (`scoring.workspace_settings`); a workspace that
never saved one gets these defaults. Validation errors name the field at fault.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.scoring.domain.rules import RuleSet

MAX_DAYS = 3650
ForwardStage = Literal["lead", "mql", "sql", "opportunity", "customer"]


def _deal_events() -> dict[str, ForwardStage]:
    return {"Deal Created": "opportunity", "Deal Won": "customer"}


def _stage_limits() -> dict[ForwardStage, float]:
    return {"sql": 30.0, "opportunity": 90.0}


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mql_score: int = Field(
        40, ge=0, le=100, description="a lead becomes an MQL at this score (0-100) or above"
    )
    mql_fit: int = Field(30, ge=0, le=100, description="... and at this fit (0-100) or above")
    mql_requires_identity: bool = Field(
        True, description="only people with an email or userId can become MQLs"
    )


class ScoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thresholds: Thresholds = Field(default_factory=Thresholds)
    stage_events: dict[str, ForwardStage] = Field(
        default_factory=_deal_events,
        description="track events that move a lead to a stage (forward only)",
    )
    engagement_half_life_days: float = Field(
        30, gt=0, le=3650, description="an idle lead's engagement fades by half this often"
    )
    score_change_to_publish: int = Field(
        5, ge=1, le=100, description="publish lead.scored when the score moved this much"
    )
    # Upper bounds keep `stage_entered_at + limit` inside datetime's range: an unbounded value
    # crashed the maintenance job for every workspace (found by schemathesis).
    mql_sla_hours: float = Field(
        48,
        gt=0,
        le=MAX_DAYS * 24,
        description="an MQL sales has not acted on for this long is stalled",
    )
    stage_max_days: dict[ForwardStage, Annotated[float, Field(gt=0, le=MAX_DAYS)]] = Field(
        default_factory=_stage_limits,
        description="a lead in one of these stages longer than this is stalled",
    )
    model_version: str | None = Field(
        None, description="score this workspace with this model instead of the live one"
    )
    point_rules: RuleSet = Field(default_factory=RuleSet)

    @model_validator(mode="after")
    def _stage_events_named(self) -> ScoringConfig:
        for name in self.stage_events:
            if not name.strip():
                raise ValueError("stage_events: an event name is empty")
        return self
