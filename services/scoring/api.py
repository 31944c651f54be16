"""HTTP routes of the scoring service (secret API key). Thin: the work is in leads.py,
lifecycle.py, store.py and registry.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, Field

from services.scoring import leads, lifecycle, registry, rules, store
from services.scoring.config import ScoringConfig
from services.scoring.features import FeatureState, vector
from shared.auth import api_workspace
from shared.events import utcnow
from shared.privacy import normalize_email
from shared.workspaces import WorkspaceInfo

router = APIRouter(prefix="/v1")


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
Workspace = Annotated[WorkspaceInfo, Depends(api_workspace)]
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


async def _lead(request: Request, workspace: WorkspaceInfo, lead_id: str) -> LeadOut:
    async with request.app.state.runtime.sessions() as session:
        found = await leads.lead_view(session, workspace.id, lead_id)
    if found is None:
        raise HTTPException(404, f"no lead {lead_id} in this workspace")
    state = FeatureState.from_json(found.pop("features"))
    return LeadOut(**found, features=vector(state, found["traits"]).as_dict())


@router.get(
    "/leads", tags=["leads"], summary="Leads, filtered and paginated (or found by identity)"
)
async def list_leads(
    request: Request,
    workspace: Workspace,
    stage: Stage | None = None,
    min_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    max_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    updated_since: IsoDatetime | None = None,
    updated_before: IsoDatetime | None = None,
    email: str | None = None,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    sort: Literal["-score", "score", "-updated_at", "updated_at"] = "-score",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> LeadPage:
    identity = [
        (k, v)
        for k, v in (
            ("email", normalize_email(email)),
            ("user", user_id),
            ("anonymous", anonymous_id),
        )
        if v
    ]
    if email and not normalize_email(email):
        raise HTTPException(400, f"email {email!r} is not an email address")
    if len(identity) > 1:
        raise HTTPException(400, "give at most one of email, user_id, anonymous_id")
    query = leads.LeadQuery(
        stage=stage,
        min_score=min_score,
        max_score=max_score,
        updated_since=updated_since,
        updated_before=updated_before,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    async with request.app.state.runtime.sessions() as session:
        if identity:
            found = await leads.find(session, workspace.id, *identity[0])
            query.lead_ids = [found] if found else []
        try:
            items, next_cursor = await leads.listing(session, workspace.id, query)
        except leads.BadCursor as exc:
            raise HTTPException(400, str(exc)) from None
    return LeadPage(items=[LeadSummary(**i) for i in items], next_cursor=next_cursor)


@router.get("/leads/{lead_id}", tags=["leads"], summary="A lead: score, parts, factors, stages")
async def get_lead(request: Request, workspace: Workspace, lead_id: str) -> LeadOut:
    return await _lead(request, workspace, lead_id)


@router.get("/leads/{lead_id}/timeline", tags=["leads"], summary="Touchpoints, emails, stages")
async def get_timeline(
    request: Request,
    workspace: Workspace,
    lead_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: IsoDatetime | None = None,
) -> list[TimelineItem]:
    async with request.app.state.runtime.sessions() as session:
        live = await leads.live_id(session, workspace.id, lead_id)
        if live is None:
            raise HTTPException(404, f"no lead {lead_id} in this workspace")
        items = await leads.timeline(session, live, limit=limit, before=before)
    return [TimelineItem(**i) for i in items]


@router.get("/leads/{lead_id}/points", tags=["leads"], summary="Point-rule scores and ledger")
async def get_points(request: Request, workspace: Workspace, lead_id: str) -> dict[str, Any]:
    async with request.app.state.runtime.sessions() as session:
        live = await leads.live_id(session, workspace.id, lead_id)
        if live is None:
            raise HTTPException(404, f"no lead {lead_id} in this workspace")
        config = (await store.configs(session, [workspace.id]))[workspace.id]
        entries = await store.ledger(session, [live])
    now = utcnow()
    mine = entries.get(live, [])
    return {
        "scores": rules.scores(config.point_rules, mine, now),
        "ledger": rules.explain_ledger(config.point_rules, mine, now),
    }


@router.post(
    "/leads/{lead_id}/lifecycle",
    tags=["lifecycle"],
    summary="Sales accept (sql) or reject (recycled, disqualified) an MQL; or set a deal stage",
)
async def move_lead(request: Request, workspace: Workspace, lead_id: str, move: MoveIn) -> LeadOut:
    runtime = request.app.state.runtime
    actor = "sales" if move.stage in lifecycle.SALES_DECISIONS else "api"
    try:
        async with runtime.uow() as uow:
            done = await leads.move_by_hand(
                uow.session,
                workspace.id,
                lead_id,
                stage=move.stage,
                reason=move.reason,
                actor=actor,
                at=utcnow(),
                amount=move.amount,
            )
            if done is None:
                raise HTTPException(404, f"no lead {lead_id} in this workspace")
            await uow.emit(runtime.topics.lead_events, *done[1].events)
    except lifecycle.NotAllowed as exc:
        raise HTTPException(409, str(exc)) from None
    return await _lead(request, workspace, done[0].id)


@router.get("/lifecycle-changes", tags=["lifecycle"], summary="Stage changes, oldest first")
async def list_changes(
    request: Request,
    workspace: Workspace,
    after_id: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="the last id you have (a bigint)")
    ] = 0,
    lead_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[LifecycleChange]:
    async with request.app.state.runtime.sessions() as session:
        rows = await leads.lifecycle_changes(
            session, workspace.id, after_id=after_id, limit=limit, lead_id=lead_id
        )
    return [LifecycleChange(**r) for r in rows]


@router.get(
    "/scoring/config", tags=["configuration"], summary="Thresholds, stage events, timers, rules"
)
async def get_config(request: Request, workspace: Workspace) -> ScoringConfig:
    async with request.app.state.runtime.sessions() as session:
        return (await store.configs(session, [workspace.id]))[workspace.id]


@router.put("/scoring/config", tags=["configuration"], summary="Replace the scoring configuration")
async def put_config(
    request: Request, workspace: Workspace, config: Annotated[ScoringConfig, Body()]
) -> ScoringConfig:
    async with request.app.state.runtime.sessions() as session, session.begin():
        if config.model_version is not None:
            known = {m.version for m in await registry.listing(session, workspace.id)}
            if config.model_version not in known:
                raise RequestValidationError(
                    [
                        {
                            "type": "unknown_model",
                            "loc": ("body", "model_version"),
                            "msg": f"no model {config.model_version!r} for this workspace",
                            "input": config.model_version,
                        }
                    ]
                )
        await store.save_config(session, workspace.id, config)
    return config


@router.get("/models", tags=["models"], summary="Models this workspace can use, newest first")
async def list_models(request: Request, workspace: Workspace) -> list[ModelOut]:
    async with request.app.state.runtime.sessions() as session:
        found = await registry.listing(session, workspace.id)
        pinned = (await store.configs(session, [workspace.id]))[workspace.id].model_version
    live = request.app.state.models.live.version
    used = pinned or live
    return [ModelOut(**vars(m), used_by_this_workspace=m.version == used) for m in found]


@router.post(
    "/models/{version}/promote",
    tags=["models"],
    summary="Score this workspace with this model from now on (no restart)",
)
async def promote_for_workspace(
    request: Request, workspace: Workspace, version: str
) -> ScoringConfig:
    async with request.app.state.runtime.sessions() as session, session.begin():
        if version not in {m.version for m in await registry.listing(session, workspace.id)}:
            raise HTTPException(404, f"no model {version} for this workspace")
        config = (await store.configs(session, [workspace.id]))[workspace.id]
        config = config.model_copy(update={"model_version": version})
        await store.save_config(session, workspace.id, config)
    return config


@router.get(
    "/identity-conflicts", tags=["leads"], summary="Known people that were not merged, newest first"
)
async def list_conflicts(
    request: Request, workspace: Workspace, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[ConflictOut]:
    async with request.app.state.runtime.sessions() as session:
        rows = await leads.conflicts(session, workspace.id, limit)
    return [ConflictOut(**row) for row in rows]
