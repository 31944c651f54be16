"""HTTP routes of the scoring service (secret API key)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from services.scoring import leads
from services.scoring.features import FeatureState, vector
from services.scoring.identity import normalize_email
from shared.auth import api_workspace
from shared.events import utcnow
from shared.workspaces import WorkspaceInfo

router = APIRouter(prefix="/v1", tags=["leads"])
Workspace = Annotated[WorkspaceInfo, Depends(api_workspace)]


class IdentityOut(BaseModel):
    kind: str
    value: str


class LeadOut(BaseModel):
    id: str
    workspace_id: str
    traits: dict[str, Any]
    identities: list[IdentityOut]
    first_seen_at: datetime
    last_seen_at: datetime
    features: dict[str, Any]


class ConflictOut(BaseModel):
    lead_id: str
    other_lead_id: str
    reason: str
    event_id: uuid.UUID
    detected_at: datetime


async def _lead(request: Request, workspace: WorkspaceInfo, lead_id: str) -> LeadOut:
    async with request.app.state.runtime.sessions() as session:
        found = await leads.lead_view(session, workspace.id, lead_id)
    if found is None:
        raise HTTPException(404, f"no lead {lead_id} in this workspace")
    state = FeatureState.from_json(found.pop("features_state"))
    return LeadOut(**found, features=vector(state, found["traits"], utcnow()))


@router.get("/leads/{lead_id}", summary="A lead: traits, identities, features now")
async def get_lead(request: Request, workspace: Workspace, lead_id: str) -> LeadOut:
    return await _lead(request, workspace, lead_id)


@router.get("/leads", summary="Find a lead by email, userId or anonymousId")
async def find_lead(
    request: Request,
    workspace: Workspace,
    email: str | None = None,
    user_id: str | None = None,
    anonymous_id: str | None = None,
) -> LeadOut:
    asked = [
        (k, v)
        for k, v in (
            ("email", normalize_email(email)),
            ("user", user_id),
            ("anonymous", anonymous_id),
        )
        if v
    ]
    if len(asked) != 1:
        raise HTTPException(400, "give exactly one of email, user_id, anonymous_id")
    async with request.app.state.runtime.sessions() as session:
        lead_id = await leads.find(session, workspace.id, *asked[0])
    if lead_id is None:
        raise HTTPException(404, "no lead with that identity in this workspace")
    return await _lead(request, workspace, lead_id)


@router.get("/identity-conflicts", summary="Known people that were not merged, newest first")
async def list_conflicts(
    request: Request, workspace: Workspace, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[ConflictOut]:
    async with request.app.state.runtime.sessions() as session:
        rows = await leads.conflicts(session, workspace.id, limit)
    return [ConflictOut(**row) for row in rows]
