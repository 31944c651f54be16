"""Enrolling and removing leads by hand, and listing enrollments (secret API key)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy import select

from services.nurture import enrollment
from services.nurture import sequences as seq
from services.nurture.models import enrollments, leads
from shared.auth import api_workspace
from shared.events import utcnow
from shared.workspaces import WorkspaceInfo

router = APIRouter(prefix="/v1", tags=["enrollments"])
Workspace = Annotated[WorkspaceInfo, Depends(api_workspace)]


class EnrollIn(BaseModel):
    lead_id: str


class EnrollmentOut(BaseModel):
    id: str
    sequence_id: str
    version: int
    lead_id: str
    status: str
    entered_at: datetime
    ended_at: datetime | None
    exit_reason: str | None
    next_at: datetime | None
    trigger: str


def _topic(request: Request) -> str:
    return str(request.app.state.runtime.topics.email_events)


@router.post(
    "/sequences/{sequence_id}/enrollments", status_code=201, summary="Enroll a lead by hand"
)
async def enroll_by_hand(
    request: Request, workspace: Workspace, sequence_id: str, body: EnrollIn
) -> EnrollmentOut:
    runtime = request.app.state.runtime
    async with runtime.uow() as uow:
        session = uow.session
        found = await enrollment.current_sequence(session, workspace.id, sequence_id)
        if found is None:
            raise HTTPException(404, f"no sequence {sequence_id} in this workspace")
        status, active = found
        if status != "active":
            raise HTTPException(409, f"sequence {sequence_id} is {status}, not active")
        known = await session.scalar(
            select(leads.c.lead_id).where(
                leads.c.workspace_id == workspace.id, leads.c.lead_id == body.lead_id
            )
        )
        if known is None:
            raise HTTPException(404, f"nurture has not heard of lead {body.lead_id}")
        new_id = await enrollment.enroll(
            uow,
            workspace.id,
            body.lead_id,
            active,
            trigger=f"manual:{uuid.uuid4()}",
            at=utcnow(),
            topic=_topic(request),
        )
        if new_id is None:
            history = await session.execute(
                select(
                    enrollments.c.entered_at, enrollments.c.ended_at, enrollments.c.status
                ).where(
                    enrollments.c.sequence_id == sequence_id, enrollments.c.lead_id == body.lead_id
                )
            )
            reason = seq.may_enroll(
                active.definition,
                [(r.entered_at, r.ended_at, r.status == "completed") for r in history],
                utcnow(),
            )
            raise HTTPException(409, str(reason))
        row = (await session.execute(select(enrollments).where(enrollments.c.id == new_id))).one()
    return EnrollmentOut(**row._mapping)


@router.delete("/enrollments/{enrollment_id}", summary="Remove a lead from a sequence")
async def remove(request: Request, workspace: Workspace, enrollment_id: str) -> EnrollmentOut:
    runtime = request.app.state.runtime
    async with runtime.uow() as uow:
        row = (
            await uow.session.execute(
                select(enrollments).where(
                    enrollments.c.id == enrollment_id, enrollments.c.workspace_id == workspace.id
                )
            )
        ).first()
        if row is None:
            raise HTTPException(404, f"no enrollment {enrollment_id} in this workspace")
        if row.status != "active":
            raise HTTPException(409, f"enrollment {enrollment_id} is already {row.status}")
        await enrollment.end(
            uow, enrollment_id, "exited", "removed by hand", at=utcnow(), topic=_topic(request)
        )
        row = (
            await uow.session.execute(select(enrollments).where(enrollments.c.id == enrollment_id))
        ).one()
    return EnrollmentOut(**row._mapping)


@router.get("/enrollments", summary="Enrollments, newest first")
async def list_enrollments(
    request: Request,
    workspace: Workspace,
    sequence_id: str | None = None,
    lead_id: str | None = None,
    status: Literal["active", "completed", "exited"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EnrollmentOut]:
    query = select(enrollments).where(enrollments.c.workspace_id == workspace.id)
    filters: dict[str, Any] = {"sequence_id": sequence_id, "lead_id": lead_id, "status": status}
    for name, value in filters.items():
        if value is not None:
            query = query.where(enrollments.c[name] == value)
    async with request.app.state.runtime.sessions() as session:
        rows = await session.execute(query.order_by(enrollments.c.entered_at.desc()).limit(limit))
    return [EnrollmentOut(**r._mapping) for r in rows]
