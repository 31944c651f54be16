"""Reloading the erased identities now and then: another ingest process may have recorded an
erasure, and its hashes must reach this one's tracking hot path too."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.domain.privacy import ErasedIdentities
from services.ingest.store import erasures
from shared.signals import sleep_unless


async def reload(erased: ErasedIdentities, sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        erased.replace(await erasures.load_all(session))


async def run_forever(
    erased: ErasedIdentities,
    sessions: async_sessionmaker[AsyncSession],
    every: float,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        await reload(erased, sessions)
        await sleep_unless(stop, every)
