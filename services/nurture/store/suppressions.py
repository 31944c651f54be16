"""The suppression list in the nurture schema: addresses never to be mailed.

Every function runs in the caller's session (and transaction) and is scoped to one
workspace. They never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.domain.catalog import (
    CatalogError,
    SuppressionReason,
    decode_cursor,
    encode_cursor,
)
from services.nurture.domain.events import SendOrigin, unsubscribed_event
from services.nurture.domain.unsubscribe import UnsubscribeToken
from services.nurture.store.tables import audit_log, sends, suppressions
from shared.db import UnitOfWork, audit
from shared.events import utcnow


@dataclass(frozen=True)
class SuppressionRecord:
    email: str
    reason: SuppressionReason
    detail: str
    created_at: datetime


def _suppression(row: Any) -> SuppressionRecord:
    m = row._mapping
    return SuppressionRecord(
        email=m["email"], reason=m["reason"], detail=m["detail"], created_at=m["created_at"]
    )


_SUPPRESSION_COLUMNS = (
    suppressions.c.email,
    suppressions.c.reason,
    suppressions.c.detail,
    suppressions.c.created_at,
)


async def list_suppressions(
    session: AsyncSession,
    workspace_id: str,
    *,
    limit: int = 100,
    cursor: str | None = None,
    reason: SuppressionReason | None = None,
) -> tuple[list[SuppressionRecord], str | None]:
    """One page of the suppression list, newest first, and the cursor of the next page
    (None on the last one). Raises BadCursor."""
    query = select(*_SUPPRESSION_COLUMNS).where(suppressions.c.workspace_id == workspace_id)
    if reason is not None:
        query = query.where(suppressions.c.reason == reason)
    if cursor is not None:
        at, email = decode_cursor(cursor)
        query = query.where(
            tuple_(suppressions.c.created_at, suppressions.c.email) < tuple_(at, email)
        )
    rows = await session.execute(
        query.order_by(suppressions.c.created_at.desc(), suppressions.c.email.desc()).limit(
            limit + 1
        )
    )
    found = [_suppression(r) for r in rows]
    if len(found) > limit:
        return found[:limit], encode_cursor(found[limit - 1].created_at, found[limit - 1].email)
    return found, None


async def get_suppression(
    session: AsyncSession, workspace_id: str, email: str
) -> SuppressionRecord | None:
    row = (
        await session.execute(
            select(*_SUPPRESSION_COLUMNS).where(
                suppressions.c.workspace_id == workspace_id,
                suppressions.c.email == email.strip().lower(),
            )
        )
    ).first()
    return _suppression(row) if row else None


async def add_suppression(
    session: AsyncSession,
    workspace_id: str,
    email: str,
    reason: SuppressionReason,
    detail: str = "",
) -> tuple[SuppressionRecord, bool]:
    """Suppress an address (lower-cased); (the entry, True) when it is new. An address
    already suppressed keeps its entry: a manual one is not allowed to hide an unsubscribe
    or a bounce, which say more."""
    email = email.strip().lower()
    row = (
        await session.execute(
            insert(suppressions)
            .values(workspace_id=workspace_id, email=email, reason=reason, detail=detail)
            .on_conflict_do_nothing(index_elements=["workspace_id", "email"])
            .returning(*_SUPPRESSION_COLUMNS)
        )
    ).first()
    if row is not None:
        return _suppression(row), True
    existing = await get_suppression(session, workspace_id, email)
    if existing is None:  # removed between the two statements: try once more
        return await add_suppression(session, workspace_id, email, reason, detail)
    return existing, False


async def remove_suppression(
    session: AsyncSession, workspace_id: str, email: str
) -> SuppressionRecord | None:
    """Remove a manual suppression; None when the address is not suppressed. Raises
    CatalogError for the other reasons (an unsubscribe or a bounce is not undone by hand)."""
    email = email.strip().lower()
    found = (
        await session.execute(
            select(*_SUPPRESSION_COLUMNS)
            .where(suppressions.c.workspace_id == workspace_id, suppressions.c.email == email)
            .with_for_update()
        )
    ).first()
    if found is None:
        return None
    record = _suppression(found)
    if record.reason != "manual":
        raise CatalogError(
            f"{email} is suppressed because of {record.reason!r}: only manual suppressions "
            "can be removed by hand"
        )
    await session.execute(
        suppressions.delete().where(
            suppressions.c.workspace_id == workspace_id, suppressions.c.email == email
        )
    )
    return record


async def unsubscribe(
    uow: UnitOfWork, link: UnsubscribeToken, *, topic: str, detail: str = ""
) -> bool:
    """Suppress the address and publish ``email.unsubscribed``, within ``uow``'s transaction.

    True when it was newly suppressed; False when the address was already on the list (for
    any reason): nothing is changed or published again.
    """
    email = link.email.strip().lower()
    inserted = await uow.session.scalar(
        insert(suppressions)
        .values(
            workspace_id=link.workspace_id,
            email=email,
            reason="unsubscribed",
            detail=detail or f"unsubscribe link of send {link.send_id}",
        )
        .on_conflict_do_nothing()
        .returning(suppressions.c.email)
    )
    if inserted is None:
        return False
    await audit.record(
        uow.session,
        audit_log,
        link.workspace_id,
        "consent.unsubscribed",
        "recipient",
        lead_id=link.lead_id,
        send_id=link.send_id,
    )
    send = await _origin(uow.session, link)
    await uow.emit(topic, unsubscribed_event(link, email, send, utcnow()))
    return True


async def _origin(session: AsyncSession, link: UnsubscribeToken) -> SendOrigin | None:
    """The send the unsubscribe link came from, with its sequence and step."""
    row = (
        await session.execute(
            select(
                sends.c.sequence_id,
                sends.c.version,
                sends.c.step_id,
                sends.c.variant_id,
            ).where(sends.c.id == link.send_id, sends.c.workspace_id == link.workspace_id)
        )
    ).first()
    if row is None:
        return None
    return SendOrigin(
        sequence_id=row.sequence_id,
        version=row.version,
        step_id=row.step_id,
        variant_id=row.variant_id,
    )
