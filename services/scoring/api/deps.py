"""Typed dependencies of scoring's routes (shared/deps.py gives the common ones)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException

from services.scoring.domain.config import ScoringConfig
from services.scoring.store import leads, store
from services.scoring.workers.live_models import LiveModels
from shared.deps import Session, Workspace, app_state

Models = Annotated[LiveModels, Depends(app_state("models", LiveModels))]


async def workspace_config(session: Session, workspace: Workspace) -> ScoringConfig:
    """The calling workspace's scoring configuration."""
    return (await store.configs(session, [workspace.id]))[workspace.id]


async def live_lead_id(session: Session, workspace: Workspace, lead_id: str) -> str:
    """The id the lead lives under now (a merged lead's survivor); 404 if unknown."""
    live = await leads.live_id(session, workspace.id, lead_id)
    if live is None:
        raise HTTPException(404, f"no lead {lead_id} in this workspace")
    return live


Config = Annotated[ScoringConfig, Depends(workspace_config)]
LiveLeadId = Annotated[str, Depends(live_lead_id)]
