"""A workspace's scoring configuration: thresholds, stage events, timers, point rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.exceptions import RequestValidationError

from services.scoring.api.deps import Config
from services.scoring.domain.config import ScoringConfig
from services.scoring.store import registry, store
from shared.deps import Uow, Workspace

router = APIRouter(tags=["configuration"])


@router.get("/scoring/config", summary="Thresholds, stage events, timers, rules")
async def get_config(config: Config) -> ScoringConfig:
    return config


@router.put("/scoring/config", summary="Replace the scoring configuration")
async def put_config(
    uow: Uow, workspace: Workspace, config: Annotated[ScoringConfig, Body()]
) -> ScoringConfig:
    if config.model_version is not None:
        known = {m.version for m in await registry.listing(uow.session, workspace.id)}
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
    await store.save_config(uow.session, workspace.id, config)
    return config
