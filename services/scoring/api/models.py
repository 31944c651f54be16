"""Scoring models (scikit-learn) a workspace can use, and choosing one for it."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from services.scoring.api.deps import Config, Models
from services.scoring.api.schemas import ModelOut
from services.scoring.domain.config import ScoringConfig
from services.scoring.store import registry, store
from shared.deps import Session, Uow, Workspace

router = APIRouter(tags=["models"])


@router.get("/models", summary="Models this workspace can use, newest first")
async def list_models(
    session: Session, workspace: Workspace, config: Config, models: Models
) -> list[ModelOut]:
    found = await registry.listing(session, workspace.id)
    used = config.model_version or models.live.version
    return [ModelOut(**vars(m), used_by_this_workspace=m.version == used) for m in found]


@router.post(
    "/models/{version}/promote",
    summary="Score this workspace with this model from now on (no restart)",
)
async def promote_for_workspace(uow: Uow, workspace: Workspace, version: str) -> ScoringConfig:
    if version not in {m.version for m in await registry.listing(uow.session, workspace.id)}:
        raise HTTPException(404, f"no model {version} for this workspace")
    config = (await store.configs(uow.session, [workspace.id]))[workspace.id]
    config = config.model_copy(update={"model_version": version})
    await store.save_config(uow.session, workspace.id, config)
    return config
