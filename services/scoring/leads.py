"""Reading and writing leads and their identities (inside the caller's transaction)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.features import FeatureState
from services.scoring.identity import Conflict, Identifier
from services.scoring.models import identities, identity_conflicts, leads

Owners = dict[Identifier, tuple[str, frozenset[Identifier]]]


async def owners(session: AsyncSession, workspace_id: str, ids: Iterable[Identifier]) -> Owners:
    """For each identifier a lead already has: that lead and all its identifiers."""
    wanted = [(i.kind, i.value) for i in ids]
    if not wanted:
        return {}
    found = (
        await session.execute(
            select(identities.c.kind, identities.c.value, identities.c.lead_id).where(
                identities.c.workspace_id == workspace_id,
                tuple_(identities.c.kind, identities.c.value).in_(wanted),
            )
        )
    ).all()
    lead_ids = {row.lead_id for row in found}
    all_ids: dict[str, set[Identifier]] = {lead_id: set() for lead_id in lead_ids}
    if lead_ids:
        rows = await session.execute(
            select(identities.c.kind, identities.c.value, identities.c.lead_id).where(
                identities.c.workspace_id == workspace_id, identities.c.lead_id.in_(lead_ids)
            )
        )
        for row in rows:
            all_ids[row.lead_id].add(Identifier(row.kind, row.value))
    return {
        Identifier(row.kind, row.value): (row.lead_id, frozenset(all_ids[row.lead_id]))
        for row in found
    }


async def create(session: AsyncSession, workspace_id: str, seen_at: datetime) -> str:
    lead_id = "ld_" + secrets.token_hex(8)
    await session.execute(
        insert(leads).values(
            id=lead_id, workspace_id=workspace_id, first_seen_at=seen_at, last_seen_at=seen_at
        )
    )
    return lead_id


async def link(
    session: AsyncSession, workspace_id: str, lead_id: str, ids: Iterable[Identifier]
) -> None:
    rows = [
        {"workspace_id": workspace_id, "kind": i.kind, "value": i.value, "lead_id": lead_id}
        for i in ids
    ]
    if rows:
        await session.execute(insert(identities), rows)


async def merge(session: AsyncSession, workspace_id: str, *, into: str, lead_id: str) -> None:
    """Fold `lead_id` into `into`: its identifiers, its traits (the survivor's win), its dates."""
    folded = (await session.execute(select(leads).where(leads.c.id == lead_id))).one()
    history = await features_of(session, into)
    history.merge(FeatureState.from_json(folded.features))
    await save_features(session, into, history)
    await session.execute(
        update(identities)
        .where(identities.c.workspace_id == workspace_id, identities.c.lead_id == lead_id)
        .values(lead_id=into)
    )
    await session.execute(
        update(leads)
        .where(leads.c.id == into)
        .values(
            traits=literal(folded.traits, JSONB).op("||")(leads.c.traits),
            first_seen_at=func.least(leads.c.first_seen_at, folded.first_seen_at),
            last_seen_at=func.greatest(leads.c.last_seen_at, folded.last_seen_at),
            updated_at=func.now(),
        )
    )
    # Leads folded into `lead_id` earlier now point at the survivor too: one hop, always.
    await session.execute(
        update(leads)
        .where(or_(leads.c.id == lead_id, leads.c.merged_into == lead_id))
        .values(merged_into=into, updated_at=func.now())
    )


async def record_conflicts(
    session: AsyncSession,
    workspace_id: str,
    lead_id: str,
    conflicts: Iterable[Conflict],
    event_id: uuid.UUID,
) -> None:
    rows = [
        {
            "workspace_id": workspace_id,
            "lead_id": lead_id,
            "other_lead_id": c.other_lead_id,
            "reason": c.reason,
            "event_id": event_id,
        }
        for c in conflicts
    ]
    if rows:
        await session.execute(insert(identity_conflicts), rows)


async def touch(
    session: AsyncSession, lead_id: str, *, seen_at: datetime, traits: dict[str, Any]
) -> None:
    """Note activity and new traits (newer values win)."""
    values: dict[str, Any] = {
        "last_seen_at": func.greatest(leads.c.last_seen_at, seen_at),
        "first_seen_at": func.least(leads.c.first_seen_at, seen_at),
        "updated_at": func.now(),
    }
    if traits:
        values["traits"] = leads.c.traits.op("||")(literal(traits, JSONB))
    await session.execute(update(leads).where(leads.c.id == lead_id).values(**values))


async def features_of(session: AsyncSession, lead_id: str) -> FeatureState:
    data = await session.scalar(select(leads.c.features).where(leads.c.id == lead_id))
    return FeatureState.from_json(data)


async def save_features(session: AsyncSession, lead_id: str, state: FeatureState) -> None:
    await session.execute(
        update(leads).where(leads.c.id == lead_id).values(features=state.as_json())
    )


async def live_id(session: AsyncSession, workspace_id: str, lead_id: str) -> str | None:
    """The lead an id stands for now (a merged lead points at its survivor), or None."""
    row = (
        await session.execute(
            select(leads.c.id, leads.c.merged_into).where(
                leads.c.workspace_id == workspace_id, leads.c.id == lead_id
            )
        )
    ).first()
    if row is None:
        return None
    return str(row.merged_into or row.id)


async def lead_view(
    session: AsyncSession, workspace_id: str, lead_id: str
) -> dict[str, Any] | None:
    """A lead as the API shows it (the survivor, if it was merged), or None."""
    live = await live_id(session, workspace_id, lead_id)
    if live is None:
        return None
    row = (await session.execute(select(leads).where(leads.c.id == live))).one()
    ids = await session.execute(
        select(identities.c.kind, identities.c.value)
        .where(identities.c.workspace_id == workspace_id, identities.c.lead_id == live)
        .order_by(identities.c.kind, identities.c.value)
    )
    return {
        **{
            k: row._mapping[k]
            for k in ("id", "workspace_id", "traits", "first_seen_at", "last_seen_at")
        },
        "identities": [{"kind": i.kind, "value": i.value} for i in ids],
        "features_state": row.features,
    }


async def find(session: AsyncSession, workspace_id: str, kind: str, value: str) -> str | None:
    found = await session.scalar(
        select(identities.c.lead_id).where(
            identities.c.workspace_id == workspace_id,
            identities.c.kind == kind,
            identities.c.value == value,
        )
    )
    return str(found) if found else None


async def conflicts(session: AsyncSession, workspace_id: str, limit: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(identity_conflicts)
        .where(identity_conflicts.c.workspace_id == workspace_id)
        .order_by(identity_conflicts.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]
