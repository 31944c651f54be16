"""The signed-in workspace's own settings over HTTP (secret API key): its allowed origins and
key rotation. The `leadflow workspace` command does the same for an operator; this lets a
workspace manage itself (the console's settings page) without shell access."""

from __future__ import annotations

from fastapi import APIRouter

from services.ingest.api.schemas import OriginsIn, RotatedOut, WorkspaceOut
from services.ingest.domain.workspaces import Workspace as Stored
from services.ingest.store import workspaces as store
from shared.deps import Runtime, Session, Uow, Workspace
from shared.workspaces import KeyKind

router = APIRouter(prefix="/v1/workspace", tags=["workspace"])


def _out(workspace: Stored) -> WorkspaceOut:
    return WorkspaceOut(
        id=workspace.id,
        name=workspace.name,
        allowed_origins=workspace.allowed_origins,
        truncate_ip=workspace.truncate_ip,
        key_prefixes=workspace.key_prefixes,
    )


@router.get("", summary="This workspace: name, allowed origins, key prefixes")
async def get_workspace(session: Session, workspace: Workspace) -> WorkspaceOut:
    return _out(await store.get(session, workspace.id))


@router.put("/allowed-origins", summary="Replace the origins browsers may send events from")
async def put_origins(
    runtime: Runtime, uow: Uow, workspace: Workspace, body: OriginsIn
) -> WorkspaceOut:
    found = await store.change(
        uow, runtime.topics, workspace.id, allowed_origins=body.allowed_origins, actor="api"
    )
    return _out(found)


@router.post(
    "/keys/{kind}/rotate",
    summary="Replace the write or API key: the old one stops working within seconds",
)
async def rotate(runtime: Runtime, uow: Uow, workspace: Workspace, kind: KeyKind) -> RotatedOut:
    issued = await store.rotate_key(uow, runtime.topics, workspace.id, kind, actor="api")
    key = issued.write_key if kind == "write" else issued.api_key
    return RotatedOut(kind=kind, key=str(key), workspace=_out(issued.workspace))
