"""A model artifact is a pickle, and unpickling runs code: scoring loads only artifacts signed
with its secret at registration (services/scoring/domain/artifacts.py). A row written into the
models table by anyone else is refused and never unpickled."""

from __future__ import annotations

import pathlib
import pickle
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import SERVICES
from services.scoring.domain.artifacts import signature
from services.scoring.store import registry
from services.scoring.store.tables import models
from services.scoring.workers.live_models import DEFAULT_MODEL, LiveModels
from shared.db import create_session_factory
from shared.db.migrations import upgrade
from shared.settings import DEV_SECRET


class Tripwire:
    """Unpickled, it creates `path`: proof that the artifact's code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (pathlib.Path.touch, (self.path,))


async def test_only_artifacts_signed_with_the_secret_are_loaded(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    await upgrade(SERVICES["scoring"].migrations, database_url=database_url, schema="scoring")
    tripwire = tmp_path / "unpickled"
    forged = pickle.dumps(Tripwire(tripwire))
    tag = uuid.uuid4().hex[:8]
    wrong_key, unsigned, signed = f"mforged{tag}", f"munsigned{tag}", f"msigned{tag}"
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        await session.execute(
            insert(models),
            [
                {"version": wrong_key, "source": "forged", "metrics": {}, "artifact": forged,
                 "signature": signature(forged, "not-the-service-secret")},
                {"version": unsigned, "source": "forged", "metrics": {}, "artifact": forged,
                 "signature": None},
            ],
        )  # fmt: skip
        await registry.register(
            session,
            version=signed,
            source="registered",
            metrics={},
            artifact=DEFAULT_MODEL.read_bytes(),
            secret=DEV_SECRET,
        )
    live = LiveModels(sessions, secret=DEV_SECRET)
    try:
        async with sessions() as session:
            for version in (wrong_key, unsigned):
                # A workspace pinned to the row gets the live model instead.
                assert await live.bundle(session, version) is live.default
            assert (await live.bundle(session, signed)).version == signed
        # Promoted, the forged row is refused too: the default keeps scoring.
        async with sessions() as session, session.begin():
            await session.execute(
                update(models).where(models.c.version == wrong_key).values(live=True)
            )
        await live.refresh()
        assert live.live is live.default
        assert not tripwire.exists(), "a forged artifact was unpickled"
    finally:
        async with sessions() as session, session.begin():
            await session.execute(
                delete(models).where(models.c.version.in_([wrong_key, unsigned, signed]))
            )
