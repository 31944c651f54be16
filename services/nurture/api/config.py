"""The workspace's nurture settings (secret API key): time zone, window, caps, sender."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from services.nurture.domain.config import NurtureConfig
from services.nurture.store import config as store
from shared.deps import Session, Uow, Workspace

router = APIRouter(prefix="/v1", tags=["configuration"])


@router.get("/nurture/config", summary="Time zone, send window, caps, rate limit, sender")
async def get_config(session: Session, workspace: Workspace) -> NurtureConfig:
    return await store.config_of(session, workspace.id)


@router.put("/nurture/config", summary="Replace the nurture settings")
async def put_config(
    uow: Uow, workspace: Workspace, config: Annotated[NurtureConfig, Body()]
) -> NurtureConfig:
    await store.save_config(uow.session, workspace.id, config)
    return config
