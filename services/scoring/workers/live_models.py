"""Which model scores a workspace, switched without a restart.

The live model is the one promoted in the registry; a workspace may pin another version in
its configuration; with nothing promoted, the default model shipped with LeadFlow (trained
on simulated traffic) scores, so a new workspace gets meaningful scores on day one. The
service polls the registry every few seconds: `leadflow scoring promote` takes effect for
the next batch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.domain.artifacts import verified
from services.scoring.domain.scorer import ModelBundle
from services.scoring.store.tables import models

DEFAULT_MODEL = Path(__file__).parent.parent / "default_model.joblib"


class Pausing(Protocol):
    async def pause(self, seconds: float) -> bool: ...


log = logging.getLogger(__name__)


def default_bundle() -> ModelBundle:
    return ModelBundle.from_bytes(DEFAULT_MODEL.read_bytes())


class LiveModels:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, secret: str) -> None:
        self._sessions = sessions
        self._secret = secret  # artifacts are loaded only with a valid signature under it
        self.default = default_bundle()
        self._live: ModelBundle | None = None
        self._by_version: dict[str, ModelBundle] = {self.default.version: self.default}

    @property
    def live(self) -> ModelBundle:
        return self._live or self.default

    async def refresh(self) -> None:
        """Pick up the promoted model if it changed."""
        async with self._sessions() as session:
            version = await session.scalar(select(models.c.version).where(models.c.live))
            if version is None:
                self._live = None
            elif self._live is None or self._live.version != version:
                loaded = await self._load(session, version)
                if loaded.version == version:
                    self._live = loaded
                    log.info("scoring with model %s", version)

    async def bundle(self, session: AsyncSession, version: str | None) -> ModelBundle:
        """The model for a workspace: its pinned version if it has one, else the live one."""
        if version is None:
            return self.live
        found = self._by_version.get(version)
        return found or await self._load(session, version)

    async def _load(self, session: AsyncSession, version: str) -> ModelBundle:
        row = (
            await session.execute(
                select(models.c.artifact, models.c.signature).where(models.c.version == version)
            )
        ).first()
        if row is None:
            log.warning("model %s is not in the registry; using the live model", version)
            return self.live
        artifact = bytes(row.artifact)
        if not verified(artifact, row.signature, self._secret):
            # Never unpickled: the row was not registered by a holder of this secret.
            log.error("model %s has no valid signature: refused, using the live model", version)
            return self.live
        bundle = ModelBundle.from_bytes(artifact, version)
        self._by_version[version] = bundle
        return bundle

    async def follow(self, every_seconds: float, runtime: Pausing) -> None:
        while not await runtime.pause(every_seconds):
            try:
                await self.refresh()
            except Exception:  # a database blip must not stop the follower
                log.exception("could not read the model registry")
