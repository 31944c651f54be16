"""Erasing a person: ingest records the request (keyed hashes only, shared/privacy.py),
audits it, publishes `privacy.erasure_requested` for every service, and from then on drops
the person's events (by userId or email) before they reach Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.models import audit_log, erased_identities
from shared.db import UnitOfWork, audit
from shared.events import Envelope, Topics, utcnow
from shared.privacy import identity_hash, normalize_email
from shared.signals import sleep_unless

Check = Callable[[dict[str, Any]], bool]


def subject_hashes(
    secret: str, workspace_id: str, user_id: str | None, email: str | None
) -> list[str]:
    found = []
    if user_id:
        found.append(identity_hash(secret, workspace_id, "user", user_id))
    if email:
        found.append(identity_hash(secret, workspace_id, "email", email))
    return found


async def request_erasure(
    uow: UnitOfWork,
    topics: Topics,
    *,
    secret: str,
    workspace_id: str,
    user_id: str | None,
    email: str | None,
    actor: str,
) -> tuple[str, list[str]]:
    """Record and publish one erasure; its id and the identity hashes now refused."""
    email = normalize_email(email) if email else None
    erasure_id = "er_" + uuid.uuid4().hex[:16]
    hashes = subject_hashes(secret, workspace_id, user_id, email)
    await uow.session.execute(
        insert(erased_identities)
        .values(
            [
                {"workspace_id": workspace_id, "identity_hash": h, "erasure_id": erasure_id}
                for h in hashes
            ]
        )
        .on_conflict_do_nothing()
    )
    kinds = [k for k, v in (("user_id", user_id), ("email", email)) if v]
    await audit.record(
        uow.session,
        audit_log,
        workspace_id,
        "person.erased",
        actor,
        erasure_id=erasure_id,
        by=kinds,
    )
    await uow.emit(
        topics.touchpoints,
        Envelope(
            type="privacy.erasure_requested",
            workspace_id=workspace_id,
            lead_key=str(user_id or email),  # the person's partition, when keyed by userId
            occurred_at=utcnow(),
            payload={"erasure_id": erasure_id, "user_id": user_id, "email": email},
        ),
    )
    return erasure_id, hashes


class ErasedIdentities:
    """Every workspace's erased identity hashes, in memory for the tracking hot path."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._by_workspace: dict[str, set[str]] = {}

    def add(self, workspace_id: str, hashes: list[str]) -> None:
        self._by_workspace.setdefault(workspace_id, set()).update(hashes)

    async def load(self, session: AsyncSession) -> None:
        rows = await session.execute(
            select(erased_identities.c.workspace_id, erased_identities.c.identity_hash)
        )
        found: dict[str, set[str]] = {}
        for ws, h in rows:
            found.setdefault(ws, set()).add(h)
        self._by_workspace = found

    def check_for(self, workspace_id: str) -> Check | None:
        """A test for one workspace's raw messages, or None when it erased nobody (the
        usual case, which then costs nothing)."""
        hashes = self._by_workspace.get(workspace_id)
        if not hashes:
            return None
        secret = self.secret

        def erased(raw: dict[str, Any]) -> bool:
            user_id = raw.get("userId")
            if (
                user_id not in (None, "")
                and identity_hash(secret, workspace_id, "user", str(user_id)) in hashes
            ):
                return True
            context = raw.get("context")
            for traits in (
                raw.get("traits"),
                context.get("traits") if isinstance(context, dict) else None,
            ):
                email = normalize_email(traits.get("email")) if isinstance(traits, dict) else None
                if email and identity_hash(secret, workspace_id, "email", email) in hashes:
                    return True
            return False

        return erased

    async def follow(
        self, sessions: async_sessionmaker[AsyncSession], every: float, stop: asyncio.Event
    ) -> None:
        """Reload now and then: another ingest process may have recorded an erasure."""
        while not stop.is_set():
            async with sessions() as session:
                await self.load(session)
            await sleep_unless(stop, every)
