"""Request and response models of scoring's HTTP API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field


def _iso_only(value: Any) -> Any:
    """A query's date-time must be ISO 8601: pydantic would also read a number as a Unix
    time, which the documented `date-time` format does not allow (found by schemathesis)."""
    if isinstance(value, str) and value.strip() and value.strip()[0] in "+-.0123456789":
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("an ISO 8601 date-time is expected, e.g. 2026-11-01T00:00:00Z")
    return value


IsoDatetime = Annotated[datetime, BeforeValidator(_iso_only)]
Stage = Literal[
    "subscriber", "lead", "mql", "sql", "opportunity", "customer", "disqualified", "recycled"
]


class FactorOut(BaseModel):
    name: str
    points: int
    text: str


class StageOut(BaseModel):
    stage: str
    from_stage: str | None
    entered_at: datetime
    left_at: datetime | None
    reason: str
    actor: str
    score: int | None
    model_version: str | None


class LeadSummary(BaseModel):
    id: str
    stage: str | None
    score: int | None
    fit: int | None
    engagement: int | None
    model_version: str | None
    traits: dict[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime
    updated_at: datetime


class LeadOut(LeadSummary):
    workspace_id: str
    probability: float | None
    scored_at: datetime | None
    stage_entered_at: datetime | None
    identified: bool
    factors: list[FactorOut]
    rule_scores: dict[str, float]
    identities: list[dict[str, str]]
    stage_history: list[StageOut]
    features: dict[str, Any] = Field(description="the model's inputs, as of the last activity")


class LeadPage(BaseModel):
    items: list[LeadSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class TimelineItem(BaseModel):
    at: datetime
    kind: str
    event_id: uuid.UUID
    detail: dict[str, Any]


class LifecycleChange(BaseModel):
    id: int
    lead_id: str
    stage: str
    from_stage: str | None
    entered_at: datetime
    reason: str
    actor: str
    score: int | None
    model_version: str | None


class MoveIn(BaseModel):
    stage: Stage = Field(
        description="sql, recycled or disqualified for an MQL; opportunity, customer"
    )
    reason: str = Field("", max_length=500, description="required to recycle or disqualify")
    amount: float | None = Field(None, ge=0, description="deal amount, for opportunity/customer")


class ConflictOut(BaseModel):
    lead_id: str
    other_lead_id: str
    reason: str
    event_id: uuid.UUID
    detected_at: datetime


class ModelOut(BaseModel):
    version: str
    created_at: datetime
    source: str
    metrics: dict[str, Any]
    live: bool
    used_by_this_workspace: bool
