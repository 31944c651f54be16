"""The touchpoint read models, from leadflow.touchpoints: every touch once (keyed by its
event id, so a replay adds nothing even after the inbox forgot it), volume per 15 minutes
and type, each identity key's first touch (folded into its lead's row), and email opens
and clicks on their send."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import credit_model, email_model
from services.reporting import keys as identity
from services.reporting.lead_model import fold_first_touches
from services.reporting.models import key_touches, touch_volume, touches
from services.reporting.pseudonyms import Pseudonymize
from shared.db import UnitOfWork
from shared.events import Envelope

BUCKET_SECONDS = 15 * 60


def bucket_of(at: datetime) -> datetime:
    """The 15-minute bucket (UTC) a moment falls in."""
    seconds = int(at.timestamp())
    return datetime.fromtimestamp(seconds - seconds % BUCKET_SECONDS, UTC)


def touch_row(e: Envelope, pseudonymize: Pseudonymize) -> dict[str, Any] | None:
    key = identity.touch_key(e.type, e.payload)
    if key is None:
        return None
    key = pseudonymize(e.workspace_id, key)
    source, medium, campaign = identity.utm(e.payload)
    return {
        "id": e.id,
        "workspace_id": e.workspace_id,
        "key": key,
        "at": e.occurred_at,
        "type": e.type,
        "source": source,
        "medium": medium,
        "campaign": campaign,
    }


async def apply_touchpoints(
    uow: UnitOfWork, envelopes: Sequence[Envelope], *, pseudonymize: Pseudonymize
) -> None:
    await apply_claimed(uow.session, await uow.claim_batch(envelopes), pseudonymize)
    await credit_model.flush(uow.session)


async def apply_claimed(
    session: AsyncSession, todo: Sequence[Envelope], pseudonymize: Pseudonymize
) -> None:
    """Apply touchpoints already claimed in the inbox (new to this service)."""
    rows = [r for r in (touch_row(e, pseudonymize) for e in todo) if r is not None]
    if not rows:
        return
    fresh = set(
        (
            await session.execute(
                insert(touches).on_conflict_do_nothing().returning(touches.c.id), rows
            )
        ).scalars()
    )
    rows = [r for r in rows if r["id"] in fresh]
    if not rows:
        return
    # A new UTM touch may change the credit of the lead its key points at.
    credit_model.mark_keys(session, {(r["workspace_id"], r["key"]) for r in rows if r["source"]})
    await _count(session, rows)
    await _first_touches(session, rows)
    await email_model.apply_engagement(session, [e for e in todo if e.id in fresh])


async def _count(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    counts: dict[tuple[str, datetime, str], int] = {}
    for r in rows:
        k = (r["workspace_id"], bucket_of(r["at"]), r["type"])
        counts[k] = counts.get(k, 0) + 1
    stmt = insert(touch_volume)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[
                touch_volume.c.workspace_id,
                touch_volume.c.bucket,
                touch_volume.c.type,
            ],
            set_={"touches": touch_volume.c.touches + stmt.excluded.touches},
        ),
        [
            {"workspace_id": ws, "bucket": b, "type": t, "touches": n}
            for (ws, b, t), n in sorted(counts.items())
        ],
    )


async def _first_touches(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        k = (r["workspace_id"], r["key"])
        seen = first.get(k)
        if seen is None or (r["at"], str(r["id"])) < (seen["first_at"], seen["first_id"]):
            first[k] = {
                "workspace_id": r["workspace_id"],
                "key": r["key"],
                "first_at": r["at"],
                "first_id": str(r["id"]),
                "source": r["source"],
                "medium": r["medium"],
                "campaign": r["campaign"],
            }
    stmt = insert(key_touches)
    new = stmt.excluded
    changed = await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[key_touches.c.workspace_id, key_touches.c.key],
            set_={c: new[c] for c in ("first_at", "first_id", "source", "medium", "campaign")},
            where=tuple_(new.first_at, new.first_id)
            < tuple_(key_touches.c.first_at, key_touches.c.first_id),
        ).returning(key_touches.c.workspace_id, key_touches.c.key),
        [first[k] for k in sorted(first)],
    )
    await fold_first_touches(session, [tuple(r) for r in changed])
