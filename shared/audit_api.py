"""`GET /v1/audit` for a service's audit log (secret API key)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import Table

from shared.db.audit import entries
from shared.deps import Session, Workspace


class AuditEntry(BaseModel):
    id: int
    at: datetime
    action: str
    actor: str
    detail: dict[str, Any]


def audit_router(table: Table, what: str) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["audit"])

    @router.get("/audit", summary=f"Audit log ({what}), newest first")
    async def audit_log(
        session: Session,
        workspace: Workspace,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before: Annotated[int | None, Query(ge=1, description="an entry id: older ones")] = None,
    ) -> list[AuditEntry]:
        rows = await entries(session, table, workspace.id, limit=limit, before=before)
        return [AuditEntry(**r) for r in rows]

    return router
