"""Erasure requests (secret API key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, model_validator

from services.ingest import privacy
from shared.auth import api_workspace
from shared.privacy import normalize_email
from shared.workspaces import WorkspaceInfo

router = APIRouter(prefix="/v1", tags=["privacy"])
Workspace = Annotated[WorkspaceInfo, Depends(api_workspace)]


class ErasureIn(BaseModel):
    user_id: str | None = Field(None, min_length=1, max_length=500)
    email: str | None = Field(None, min_length=3, max_length=500)

    @model_validator(mode="after")
    def _someone(self) -> ErasureIn:
        if self.user_id is None and self.email is None:
            raise ValueError("give the person's user_id, email or both")
        if self.email is not None and normalize_email(self.email) is None:
            raise ValueError("email: not an email address")
        return self


class ErasureOut(BaseModel):
    id: str
    status: str = Field(description="`accepted`: every service removes the person within seconds")


@router.post(
    "/privacy/erasures",
    status_code=202,
    summary="Erase a person: their data everywhere, their emails, their future events",
)
async def erase(request: Request, workspace: Workspace, body: ErasureIn) -> ErasureOut:
    runtime = request.app.state.runtime
    state = request.app.state.ingest
    async with runtime.uow() as uow:
        erasure_id, hashes = await privacy.request_erasure(
            uow,
            runtime.topics,
            secret=state.settings.secret_key.get_secret_value(),
            workspace_id=workspace.id,
            user_id=body.user_id,
            email=body.email,
            actor="api",
        )
    state.erased.add(workspace.id, hashes)
    return ErasureOut(id=erasure_id, status="accepted")
