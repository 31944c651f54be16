"""Enrolling and removing leads by hand, and listing enrollments (secret API key)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from services.nurture.api.deps import EmailTopic
from services.nurture.api.schemas import EnrollIn, EnrollmentOut
from services.nurture.domain.lifecycle import may_enroll
from services.nurture.store import enrollments as store
from services.nurture.store.leads import known
from shared.deps import Session, Uow, Workspace
from shared.events import utcnow

router = APIRouter(prefix="/v1", tags=["enrollments"])


@router.post(
    "/sequences/{sequence_id}/enrollments", status_code=201, summary="Enroll a lead by hand"
)
async def enroll_by_hand(
    uow: Uow, topic: EmailTopic, workspace: Workspace, sequence_id: str, body: EnrollIn
) -> EnrollmentOut:
    session = uow.session
    found = await store.current_sequence(session, workspace.id, sequence_id)
    if found is None:
        raise HTTPException(404, f"no sequence {sequence_id} in this workspace")
    status, active = found
    if status != "active":
        raise HTTPException(409, f"sequence {sequence_id} is {status}, not active")
    if not await known(session, workspace.id, body.lead_id):
        raise HTTPException(404, f"nurture has not heard of lead {body.lead_id}")
    new_id = await store.enroll(
        uow,
        workspace.id,
        body.lead_id,
        active,
        trigger=f"manual:{uuid.uuid4()}",
        at=utcnow(),
        topic=topic,
    )
    if new_id is None:
        history = await store.history(session, None, sequence_id, body.lead_id)
        raise HTTPException(409, str(may_enroll(active.definition, history, utcnow())))
    row = await store.get(session, None, new_id)
    assert row is not None
    return EnrollmentOut(**row._mapping)


@router.delete("/enrollments/{enrollment_id}", summary="Remove a lead from a sequence")
async def remove(
    uow: Uow, topic: EmailTopic, workspace: Workspace, enrollment_id: str
) -> EnrollmentOut:
    row = await store.get(uow.session, workspace.id, enrollment_id)
    if row is None:
        raise HTTPException(404, f"no enrollment {enrollment_id} in this workspace")
    if row.status != "active":
        raise HTTPException(409, f"enrollment {enrollment_id} is already {row.status}")
    await store.end(uow, enrollment_id, "exited", "removed by hand", at=utcnow(), topic=topic)
    row = await store.get(uow.session, None, enrollment_id)
    assert row is not None
    return EnrollmentOut(**row._mapping)


@router.get("/enrollments", summary="Enrollments, newest first")
async def list_enrollments(
    session: Session,
    workspace: Workspace,
    sequence_id: str | None = None,
    lead_id: str | None = None,
    status: Literal["active", "completed", "exited"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EnrollmentOut]:
    filters = {"sequence_id": sequence_id, "lead_id": lead_id, "status": status}
    rows = await store.list_enrollments(session, workspace.id, filters=filters, limit=limit)
    return [EnrollmentOut(**r._mapping) for r in rows]
