"""Sequences (secret API key): create, list, read, new versions, status transitions, results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.api.schemas import (
    Counts,
    SequenceChange,
    SequenceIn,
    SequenceOut,
    SequenceSummary,
    VersionOut,
    VersionSummary,
)
from services.nurture.api.templates import not_found
from services.nurture.domain.catalog import Action, CatalogError, Status, definition_json
from services.nurture.domain.sequences import SequenceDefinition
from services.nurture.store import results
from services.nurture.store import sequences as store
from shared.deps import Session, Uow, Workspace

router = APIRouter(prefix="/v1", tags=["sequences"])


def _summary(record: store.SequenceRecord, stats: store.SequenceStats) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "status": record.status,
        "current_version": record.current_version,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "counts": Counts(
            active=stats.active, completed=stats.completed, exited=stats.exited, sent=stats.sent
        ),
    }


async def _sequence_out(session: AsyncSession, workspace_id: str, sequence_id: str) -> SequenceOut:
    record = await store.get_sequence(session, workspace_id, sequence_id)
    if record is None:
        raise not_found("sequence", sequence_id)
    versions = await store.list_versions(session, workspace_id, sequence_id)
    stats = await store.sequence_stats(session, workspace_id, sequence_id)
    current = next(v for v in versions if v.version == record.current_version)
    return SequenceOut(
        **_summary(record, stats),
        definition=definition_json(current.definition),
        versions=[VersionSummary(version=v.version, created_at=v.created_at) for v in versions],
    )


async def _check_templates(
    session: AsyncSession, workspace_id: str, definition: SequenceDefinition
) -> None:
    unknown = await store.unknown_templates(session, workspace_id, definition)
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "unknown_template",
                    "loc": ("body", "definition", *ref.loc),
                    "msg": f"no template {ref.template_id!r} in this workspace (or it is archived)",
                    "input": ref.template_id,
                }
                for ref in unknown
            ]
        )


@router.post("/sequences", status_code=201, summary="Create a sequence (a draft, v1)")
async def create_sequence(uow: Uow, workspace: Workspace, body: SequenceIn) -> SequenceOut:
    await _check_templates(uow.session, workspace.id, body.definition)
    record = await store.create_sequence(uow.session, workspace.id, body.name, body.definition)
    return await _sequence_out(uow.session, workspace.id, record.id)


@router.get("/sequences", summary="Sequences with their headline counts")
async def list_sequences(
    session: Session, workspace: Workspace, status: Status | None = None
) -> list[SequenceSummary]:
    found = await store.list_sequences(session, workspace.id, status=status)
    return [SequenceSummary(**_summary(record, stats)) for record, stats in found]


@router.get("/sequences/{sequence_id}", summary="A sequence: current definition, versions, counts")
async def get_sequence(session: Session, workspace: Workspace, sequence_id: str) -> SequenceOut:
    return await _sequence_out(session, workspace.id, sequence_id)


@router.put(
    "/sequences/{sequence_id}", summary="Rename, or save a new definition as the next version"
)
async def update_sequence(
    uow: Uow, workspace: Workspace, sequence_id: str, body: SequenceChange
) -> SequenceOut:
    session = uow.session
    try:
        if await store.get_sequence(session, workspace.id, sequence_id) is None:
            raise not_found("sequence", sequence_id)
        if body.definition is not None:
            await _check_templates(session, workspace.id, body.definition)
        await store.update_sequence(
            session, workspace.id, sequence_id, name=body.name, definition=body.definition
        )
    except CatalogError as exc:
        raise HTTPException(409, str(exc)) from None
    return await _sequence_out(session, workspace.id, sequence_id)


@router.get(
    "/sequences/{sequence_id}/versions/{version}",
    summary="One version of a sequence, as it was saved",
)
async def get_version(
    session: Session,
    workspace: Workspace,
    sequence_id: str,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> VersionOut:
    record = await store.get_sequence(session, workspace.id, sequence_id)
    if record is None:
        raise not_found("sequence", sequence_id)
    found = await store.get_version(session, workspace.id, sequence_id, version)
    if found is None:
        raise HTTPException(404, f"sequence {sequence_id} has no version {version}")
    return VersionOut(
        sequence_id=sequence_id,
        version=found.version,
        current=found.version == record.current_version,
        created_at=found.created_at,
        definition=definition_json(found.definition),
    )


@router.get(
    "/sequences/{sequence_id}/results",
    summary="Results per step and A/B variant: sent, opened, clicked, unsubscribed, bounced",
)
async def get_results(session: Session, workspace: Workspace, sequence_id: str) -> dict[str, Any]:
    if await store.get_sequence(session, workspace.id, sequence_id) is None:
        raise not_found("sequence", sequence_id)
    return await results.sequence_results(session, workspace.id, sequence_id)


async def _transition(
    uow: Uow, workspace: Workspace, sequence_id: str, action: Action
) -> SequenceOut:
    try:
        record = await store.change_status(uow.session, workspace.id, sequence_id, action)
    except CatalogError as exc:
        raise HTTPException(409, str(exc)) from None
    if record is None:
        raise not_found("sequence", sequence_id)
    return await _sequence_out(uow.session, workspace.id, sequence_id)


@router.post("/sequences/{sequence_id}/activate", summary="draft -> active")
async def activate_sequence(uow: Uow, workspace: Workspace, sequence_id: str) -> SequenceOut:
    return await _transition(uow, workspace, sequence_id, "activate")


@router.post("/sequences/{sequence_id}/pause", summary="active -> paused")
async def pause_sequence(uow: Uow, workspace: Workspace, sequence_id: str) -> SequenceOut:
    return await _transition(uow, workspace, sequence_id, "pause")


@router.post("/sequences/{sequence_id}/resume", summary="paused -> active")
async def resume_sequence(uow: Uow, workspace: Workspace, sequence_id: str) -> SequenceOut:
    return await _transition(uow, workspace, sequence_id, "resume")


@router.post("/sequences/{sequence_id}/archive", summary="any -> archived (final)")
async def archive_sequence(uow: Uow, workspace: Workspace, sequence_id: str) -> SequenceOut:
    return await _transition(uow, workspace, sequence_id, "archive")
