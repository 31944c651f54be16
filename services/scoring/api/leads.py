"""Leads: listed and filtered, one lead with its score and stages, its timeline, its
point-rule ledger, and the identity conflicts found while stitching."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.api.deps import Config, LiveLeadId
from services.scoring.api.schemas import (
    ConflictOut,
    IsoDatetime,
    LeadOut,
    LeadPage,
    LeadSummary,
    Stage,
    TimelineItem,
)
from services.scoring.domain import rules
from services.scoring.domain.features import FeatureState, vector
from services.scoring.store import leads, store
from shared.deps import Session, Workspace
from shared.events import utcnow
from shared.privacy import normalize_email

router = APIRouter(tags=["leads"])
conflicts_router = APIRouter(tags=["leads"])  # listed last, as it always was


async def lead_out(session: AsyncSession, workspace_id: str, lead_id: str) -> LeadOut:
    """A lead as the API shows it, with the model's inputs; 404 if unknown."""
    found = await leads.lead_view(session, workspace_id, lead_id)
    if found is None:
        raise HTTPException(404, f"no lead {lead_id} in this workspace")
    state = FeatureState.from_json(found.pop("features"))
    return LeadOut(**found, features=vector(state, found["traits"]).as_dict())


def _identity(
    email: str | None, user_id: str | None, anonymous_id: str | None
) -> tuple[str, str] | None:
    """The one identity a listing is asked to find (kind, value), if any; 400 if several."""
    given = [
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
    if len(given) > 1:
        raise HTTPException(400, "give at most one of email, user_id, anonymous_id")
    return given[0] if given else None


@router.get("/leads", summary="Leads, filtered and paginated (or found by identity)")
async def list_leads(
    session: Session,
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
    identity = _identity(email, user_id, anonymous_id)
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
    if identity:
        found = await leads.find(session, workspace.id, *identity)
        query.lead_ids = [found] if found else []
    try:
        items, next_cursor = await leads.listing(session, workspace.id, query)
    except leads.BadCursor as exc:
        raise HTTPException(400, str(exc)) from None
    return LeadPage(items=[LeadSummary(**i) for i in items], next_cursor=next_cursor)


@router.get("/leads/{lead_id}", summary="A lead: score, parts, factors, stages")
async def get_lead(session: Session, workspace: Workspace, lead_id: str) -> LeadOut:
    return await lead_out(session, workspace.id, lead_id)


@router.get("/leads/{lead_id}/timeline", summary="Touchpoints, emails, stages")
async def get_timeline(
    session: Session,
    live: LiveLeadId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: IsoDatetime | None = None,
) -> list[TimelineItem]:
    items = await leads.timeline(session, live, limit=limit, before=before)
    return [TimelineItem(**i) for i in items]


@router.get("/leads/{lead_id}/points", summary="Point-rule scores and ledger")
async def get_points(session: Session, live: LiveLeadId, config: Config) -> dict[str, Any]:
    mine = (await store.ledger(session, [live])).get(live, [])
    now = utcnow()
    return {
        "scores": rules.scores(config.point_rules, mine, now),
        "ledger": rules.explain_ledger(config.point_rules, mine, now),
    }


@conflicts_router.get(
    "/identity-conflicts", summary="Known people that were not merged, newest first"
)
async def list_conflicts(
    session: Session, workspace: Workspace, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[ConflictOut]:
    rows = await leads.conflicts(session, workspace.id, limit)
    return [ConflictOut(**row) for row in rows]
