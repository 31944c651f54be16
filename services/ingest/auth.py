"""Who is sending: the write key from HTTP Basic (user name) or the body's `writeKey`."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from shared.workspaces import KEY_PREFIX, WorkspaceDirectory, WorkspaceInfo


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def write_key_of(authorization: str | None, body: Any) -> str | None:
    if authorization and authorization[:6].lower() == "basic ":
        try:
            user = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError(401, "malformed Basic authorization header") from None
        return user.split(":", 1)[0] or None
    if isinstance(body, dict) and isinstance(body.get("writeKey"), str):
        return body["writeKey"] or None
    return None


def authenticate(
    authorization: str | None, body: Any, directory: WorkspaceDirectory
) -> WorkspaceInfo:
    key = write_key_of(authorization, body)
    if key is None:
        raise AuthError(
            401, "missing write key: send it as the HTTP Basic user name or as writeKey in the body"
        )
    workspace = directory.by_write_key(key)
    if workspace is not None:
        return workspace
    if key.startswith(KEY_PREFIX["api"]) and directory.by_api_key(key) is not None:
        raise AuthError(401, "an API key cannot send events: use the workspace's write key")
    raise AuthError(401, "invalid write key")
