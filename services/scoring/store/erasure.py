"""Erasing a person from scoring: on `privacy.erasure_requested`, every lead the person's
userId or email names (and the leads folded into them) is deleted with its timeline, stages,
ledger and identities; each identifier it had (anonymous ids too) is kept only as a keyed
hash (shared/privacy.py), so later events of that person are ignored; `lead.erased` tells
the other services which lead ids to drop."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain import publishing
from services.scoring.domain.identity import identifiers_of
from services.scoring.store.tables import (
    erased_keys,
    identities,
    identity_conflicts,
    lead_events,
    lead_stages,
    leads,
    rule_ledger,
)
from shared.events import EMAIL_TYPES, Envelope, utcnow
from shared.events.types import EmailEvent, ErasureRequested
from shared.privacy import identity_hash, normalize_email

ERASURE = "privacy.erasure_requested"


async def erase(session: AsyncSession, e: Envelope, secret: str) -> list[Envelope]:
    """Apply one erasure request; the `lead.erased` events it produces."""
    ws, asked = e.workspace_id, e.data_as(ErasureRequested)
    named = [("user", asked.user_id), ("email", normalize_email(asked.email))]
    asked_keys = [(kind, str(value)) for kind, value in named if value]
    lead_ids = await _leads_of(session, ws, asked_keys)
    keys = set(asked_keys)
    if lead_ids:
        rows = await session.execute(
            select(identities.c.kind, identities.c.value).where(identities.c.lead_id.in_(lead_ids))
        )
        keys.update((kind, value) for kind, value in rows)
    keys.update(("lead", lead_id) for lead_id in lead_ids)
    await session.execute(
        insert(erased_keys)
        .values(
            [
                {"workspace_id": ws, "key_hash": identity_hash(secret, ws, kind, value)}
                for kind, value in sorted(keys)
            ]
        )
        .on_conflict_do_nothing()
    )
    if lead_ids:
        await _delete_leads(session, lead_ids)
    return [publishing.erased(ws, lead_id, asked.erasure_id, utcnow()) for lead_id in lead_ids]


async def _leads_of(session: AsyncSession, ws: str, keys: list[tuple[str, str]]) -> list[str]:
    """The leads these identities belong to, and the leads folded into them."""
    direct = set(
        await session.scalars(
            select(identities.c.lead_id).where(
                identities.c.workspace_id == ws,
                tuple_(identities.c.kind, identities.c.value).in_(keys),
            )
        )
    )
    folded = (
        set(await session.scalars(select(leads.c.id).where(leads.c.merged_into.in_(direct))))
        if direct
        else set()
    )
    return sorted(direct | folded)


async def _delete_leads(session: AsyncSession, lead_ids: list[str]) -> None:
    for table in (lead_events, lead_stages, rule_ledger, identities):
        await session.execute(delete(table).where(table.c.lead_id.in_(lead_ids)))
    await session.execute(
        delete(identity_conflicts).where(
            or_(
                identity_conflicts.c.lead_id.in_(lead_ids),
                identity_conflicts.c.other_lead_id.in_(lead_ids),
            )
        )
    )
    await session.execute(delete(leads).where(leads.c.id.in_(lead_ids)))


def _keys_of(e: Envelope) -> Iterable[tuple[str, str]]:
    if e.type in EMAIL_TYPES:
        yield ("lead", e.data_as(EmailEvent).lead_id)
        return
    for identifier in identifiers_of(e.type, e.payload):
        yield (identifier.kind, identifier.value)


async def without_erased(
    session: AsyncSession, events: Sequence[Envelope], secret: str
) -> list[Envelope]:
    """The events that are not about an erased person. Costs one small query per batch
    when the batch's workspaces erased nobody (the usual case)."""
    workspaces = sorted({e.workspace_id for e in events})
    erasing = set(
        await session.scalars(
            select(erased_keys.c.workspace_id)
            .where(erased_keys.c.workspace_id == func.any(workspaces))
            .distinct()
        )
    )
    if not erasing:
        return list(events)
    hashes: dict[int, list[str]] = {}
    for i, e in enumerate(events):
        if e.workspace_id in erasing:
            hashes[i] = [
                identity_hash(secret, e.workspace_id, kind, value) for kind, value in _keys_of(e)
            ]
    wanted = sorted({h for hs in hashes.values() for h in hs})
    erased: set[Any] = (
        set(
            await session.scalars(
                select(erased_keys.c.key_hash).where(erased_keys.c.key_hash == func.any(wanted))
            )
        )
        if wanted
        else set()
    )
    return [e for i, e in enumerate(events) if not erased.intersection(hashes.get(i, ()))]
