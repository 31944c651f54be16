"""A workspace's nurture settings in the nurture schema."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.domain.config import NurtureConfig
from services.nurture.store.tables import workspace_settings


async def config_of(session: AsyncSession, workspace_id: str) -> NurtureConfig:
    """The workspace's nurture settings (the defaults when it never saved any)."""
    stored = await session.scalar(
        select(workspace_settings.c.config).where(workspace_settings.c.workspace_id == workspace_id)
    )
    return NurtureConfig.model_validate(stored) if stored is not None else NurtureConfig()


async def save_config(session: AsyncSession, workspace_id: str, config: NurtureConfig) -> None:
    stmt = insert(workspace_settings).values(
        workspace_id=workspace_id, config=config.model_dump(mode="json")
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[workspace_settings.c.workspace_id],
            set_={"config": stmt.excluded.config, "updated_at": text("now()")},
        )
    )
