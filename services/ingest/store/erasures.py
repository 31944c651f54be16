"""Erasures: ingest records the request (keyed hashes only, shared/privacy.py), audits it and
publishes `privacy.erasure_requested` for every service; the hashes it keeps let the tracking
API drop the person's later events (domain/privacy.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.privacy import Erasure
from services.ingest.store.tables import audit_log, erased_identities
from shared.db import UnitOfWork, audit
from shared.events import Topics, utcnow


async def record(uow: UnitOfWork, topics: Topics, erasure: Erasure, *, actor: str) -> None:
    """Store, audit and publish one erasure (in the caller's transaction)."""
    await uow.session.execute(
        insert(erased_identities)
        .values(
            [
                {"workspace_id": erasure.workspace_id, "identity_hash": h, "erasure_id": erasure.id}
                for h in erasure.hashes
            ]
        )
        .on_conflict_do_nothing()
    )
    await audit.record(
        uow.session,
        audit_log,
        erasure.workspace_id,
        "person.erased",
        actor,
        erasure_id=erasure.id,
        by=erasure.by,
    )
    await uow.emit(topics.touchpoints, erasure.event(utcnow()))


async def load_all(session: AsyncSession) -> dict[str, set[str]]:
    """Every workspace's erased identity hashes."""
    rows = await session.execute(
        select(erased_identities.c.workspace_id, erased_identities.c.identity_hash)
    )
    found: dict[str, set[str]] = {}
    for ws, h in rows:
        found.setdefault(ws, set()).add(h)
    return found
