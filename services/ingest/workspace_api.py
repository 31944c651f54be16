"""The signed-in workspace's own settings over HTTP (secret API key): its allowed origins and
key rotation. The `leadflow workspace` command does the same for an operator; this lets a
workspace manage itself (the console's settings page) without shell access."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.ingest import workspaces as ws
from shared.auth import api_workspace
from shared.workspaces import KeyKind, WorkspaceInfo

router = APIRouter(prefix="/v1/workspace", tags=["workspace"])
Workspace = Annotated[WorkspaceInfo, Depends(api_workspace)]


def normalize_origin(value: str) -> str:
    """`https://www.acme.example` as a browser sends it in `Origin`: scheme, host and a
    non-default port only. Raises ValueError naming what is wrong."""
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an origin such as https://www.acme.example")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r}: an origin has no path, query or user (scheme://host[:port])")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r}: the port is not a number from 1 to 65535") from None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


class WorkspaceOut(BaseModel):
    id: str
    name: str
    allowed_origins: list[str]
    truncate_ip: bool
    key_prefixes: dict[str, str] = Field(description="kind -> the first characters of the key")


class OriginsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[str] = Field(
        max_length=100, description="browser origins that may send events; empty: any"
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(normalize_origin(v) for v in values))


class RotatedOut(BaseModel):
    kind: KeyKind
    key: str = Field(description="the new key, shown this once; the old one stops working")
    workspace: WorkspaceOut


def _out(workspace: ws.Workspace) -> WorkspaceOut:
    return WorkspaceOut(
        id=workspace.id,
        name=workspace.name,
        allowed_origins=workspace.allowed_origins,
        truncate_ip=workspace.truncate_ip,
        key_prefixes=workspace.key_prefixes,
    )


@router.get("", summary="This workspace: name, allowed origins, key prefixes")
async def get_workspace(request: Request, workspace: Workspace) -> WorkspaceOut:
    async with request.app.state.runtime.uow() as uow:
        found = await ws.get(uow, workspace.id)
    return _out(found)


@router.put("/allowed-origins", summary="Replace the origins browsers may send events from")
async def put_origins(request: Request, workspace: Workspace, body: OriginsIn) -> WorkspaceOut:
    runtime = request.app.state.runtime
    async with runtime.uow() as uow:
        found = await ws.change(
            uow, runtime.topics, workspace.id, allowed_origins=body.allowed_origins, actor="api"
        )
    return _out(found)


@router.post(
    "/keys/{kind}/rotate",
    summary="Replace the write or API key: the old one stops working within seconds",
)
async def rotate(request: Request, workspace: Workspace, kind: KeyKind) -> RotatedOut:
    runtime = request.app.state.runtime
    async with runtime.uow() as uow:
        issued = await ws.rotate_key(uow, runtime.topics, workspace.id, kind, actor="api")
    key: Any = issued.write_key if kind == "write" else issued.api_key
    return RotatedOut(kind=kind, key=str(key), workspace=_out(issued.workspace))
