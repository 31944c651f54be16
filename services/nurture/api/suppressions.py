"""The suppression list (secret API key): list, suppress by hand, remove a manual entry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.api.deps import Settings
from services.nurture.api.schemas import SuppressionIn, SuppressionOut, SuppressionPage
from services.nurture.domain.catalog import BadCursor, CatalogError, SuppressionReason
from services.nurture.store import suppressions as store
from services.nurture.store.tables import audit_log
from shared.db import audit
from shared.deps import Session, Uow, Workspace
from shared.privacy import identity_hash

router = APIRouter(prefix="/v1", tags=["suppressions"])


@router.get("/suppressions", summary="Suppressed addresses, newest first")
async def list_suppressions(
    session: Session,
    workspace: Workspace,
    reason: SuppressionReason | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> SuppressionPage:
    try:
        items, next_cursor = await store.list_suppressions(
            session, workspace.id, limit=limit, cursor=cursor, reason=reason
        )
    except BadCursor as exc:
        raise HTTPException(400, str(exc)) from None
    return SuppressionPage(
        items=[SuppressionOut.model_validate(i) for i in items], next_cursor=next_cursor
    )


@router.post(
    "/suppressions",
    status_code=201,
    summary="Suppress an address by hand (200 with the existing entry if already suppressed)",
)
async def add_suppression(
    uow: Uow, settings: Settings, workspace: Workspace, body: SuppressionIn, response: Response
) -> SuppressionOut:
    record, created = await store.add_suppression(
        uow.session, workspace.id, body.email, body.reason, body.detail
    )
    if created:
        await _audit_consent(uow.session, settings, workspace.id, "consent.suppressed", body.email)
    else:
        response.status_code = 200
    return SuppressionOut.model_validate(record)


@router.delete(
    "/suppressions/{email}",
    status_code=204,
    summary="Remove a manual suppression (unsubscribes and bounces stay)",
)
async def remove_suppression(
    uow: Uow, settings: Settings, workspace: Workspace, email: str
) -> None:
    try:
        removed = await store.remove_suppression(uow.session, workspace.id, email)
    except CatalogError as exc:
        raise HTTPException(409, str(exc)) from None
    if removed is None:
        raise HTTPException(404, f"{email.strip().lower()} is not suppressed in this workspace")
    await _audit_consent(uow.session, settings, workspace.id, "consent.restored", email)


async def _audit_consent(
    session: AsyncSession, settings: Settings, workspace_id: str, action: str, email: str
) -> None:
    """The address only as a keyed hash (shared/privacy.py): the log keeps no email."""
    secret = settings.secret_key.get_secret_value()
    subject = identity_hash(secret, workspace_id, "email", email.strip().lower())
    await audit.record(session, audit_log, workspace_id, action, "api", email_hash=subject)
