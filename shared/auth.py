"""The secret API key that every service's API (not ingest's tracking API) requires."""

from __future__ import annotations

import base64
import binascii

from fastapi import HTTPException, Request

from shared.web import get_runtime
from shared.workspaces import WorkspaceDirectory, WorkspaceInfo

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="LeadFlow"'}


def _key(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().split(":", 1)[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def workspace_of(authorization: str | None, directory: WorkspaceDirectory) -> WorkspaceInfo:
    key = _key(authorization)
    if key is None:
        raise HTTPException(401, "missing API key: send `Authorization: Bearer sk_…`", CHALLENGE)
    workspace = directory.by_api_key(key)
    if workspace is not None:
        return workspace
    if directory.by_write_key(key) is not None:
        raise HTTPException(403, "a write key can only send events: use the workspace's API key")
    raise HTTPException(401, "invalid API key", CHALLENGE)


async def api_workspace(request: Request) -> WorkspaceInfo:
    """FastAPI dependency: the workspace whose API key the request carries."""
    return workspace_of(request.headers.get("authorization"), get_runtime(request).directory)
