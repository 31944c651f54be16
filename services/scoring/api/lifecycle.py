"""Lifecycle: sales accept or reject an MQL, a deal stage is set; the stage changes feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from services.scoring.api.leads import lead_out
from services.scoring.api.schemas import LeadOut, LifecycleChange, MoveIn
from services.scoring.domain import lifecycle
from services.scoring.store import leads
from shared.deps import Runtime, Session, Uow, Workspace
from shared.events import utcnow

router = APIRouter(tags=["lifecycle"])


@router.post(
    "/leads/{lead_id}/lifecycle",
    summary="Sales accept (sql) or reject (recycled, disqualified) an MQL; or set a deal stage",
)
async def move_lead(
    uow: Uow, runtime: Runtime, workspace: Workspace, lead_id: str, move: MoveIn
) -> LeadOut:
    actor = "sales" if move.stage in lifecycle.SALES_DECISIONS else "api"
    try:
        done = await leads.move_by_hand(
            uow.session,
            workspace.id,
            lead_id,
            stage=move.stage,
            reason=move.reason,
            actor=actor,
            at=utcnow(),
            amount=move.amount,
        )
    except lifecycle.NotAllowed as exc:
        raise HTTPException(409, str(exc)) from None
    if done is None:
        raise HTTPException(404, f"no lead {lead_id} in this workspace")
    record, outcome = done
    await uow.emit(runtime.topics.lead_events, *outcome.events)
    return await lead_out(uow.session, workspace.id, record.id)


@router.get("/lifecycle-changes", summary="Stage changes, oldest first")
async def list_changes(
    session: Session,
    workspace: Workspace,
    after_id: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="the last id you have (a bigint)")
    ] = 0,
    lead_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[LifecycleChange]:
    rows = await leads.lifecycle_changes(
        session, workspace.id, after_id=after_id, limit=limit, lead_id=lead_id
    )
    return [LifecycleChange(**r) for r in rows]
