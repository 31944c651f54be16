"""The model registry: register a trained model, list them, promote one to live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.artifacts import signature
from services.scoring.store.tables import models


class UnknownModel(LookupError):
    pass


@dataclass
class ModelInfo:
    version: str
    created_at: datetime
    source: str
    metrics: dict[str, Any]
    live: bool


async def register(
    session: AsyncSession,
    *,
    version: str,
    source: str,
    metrics: dict[str, Any],
    artifact: bytes,
    secret: str,
    workspace_id: str | None = None,
) -> None:
    """Add a model, its artifact signed with `secret` (the scoring service's secret key)."""
    await session.execute(
        insert(models).values(
            version=version,
            source=source,
            metrics=metrics,
            artifact=artifact,
            signature=signature(artifact, secret),
            workspace_id=workspace_id,
        )
    )


async def promote(session: AsyncSession, version: str) -> None:
    """Make `version` the live model (and no other)."""
    known = await session.scalar(select(models.c.version).where(models.c.version == version))
    if known is None:
        raise UnknownModel(version)
    await session.execute(update(models).where(models.c.live).values(live=False))
    await session.execute(
        update(models).where(models.c.version == version).values(live=True, promoted_at=func.now())
    )


async def listing(session: AsyncSession, workspace_id: str | None = None) -> list[ModelInfo]:
    """Registered models, newest first; with a workspace: the shared ones and its own."""
    query = select(
        models.c.version, models.c.created_at, models.c.source, models.c.metrics, models.c.live
    ).order_by(models.c.created_at.desc())
    if workspace_id is not None:
        query = query.where(
            (models.c.workspace_id.is_(None)) | (models.c.workspace_id == workspace_id)
        )
    rows = await session.execute(query)
    return [ModelInfo(**row._mapping) for row in rows]


async def live(session: AsyncSession) -> tuple[str, bytes] | None:
    """The live model's version and artifact, if one was promoted."""
    row = (
        await session.execute(select(models.c.version, models.c.artifact).where(models.c.live))
    ).first()
    return (row.version, bytes(row.artifact)) if row else None
