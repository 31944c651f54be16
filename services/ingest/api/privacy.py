"""Erasure requests (secret API key)."""

from __future__ import annotations

from fastapi import APIRouter

from services.ingest.api.deps import State
from services.ingest.api.schemas import ErasureIn, ErasureOut
from services.ingest.domain.privacy import Erasure
from services.ingest.store import erasures
from shared.deps import Runtime, Uow, Workspace

router = APIRouter(prefix="/v1", tags=["privacy"])


@router.post(
    "/privacy/erasures",
    status_code=202,
    summary="Erase a person: their data everywhere, their emails, their future events",
)
async def erase(
    runtime: Runtime, uow: Uow, state: State, workspace: Workspace, body: ErasureIn
) -> ErasureOut:
    secret = state.settings.secret_key.get_secret_value()
    erasure = Erasure.new(secret, workspace.id, body.user_id, body.email)
    await erasures.record(uow, runtime.topics, erasure, actor="api")
    # Refused at once in this process (before the commit, which follows the return: if it
    # fails, the next reload by workers/erasures.py forgets these hashes again).
    state.erased.add(workspace.id, erasure.hashes)
    return ErasureOut(id=erasure.id, status="accepted")
