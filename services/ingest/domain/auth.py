"""Who is sending: the write key from HTTP Basic (user name) or the body's `writeKey`."""

from __future__ import annotations

import base64
import binascii
from typing import Any


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


MISSING = "missing write key: send it as the HTTP Basic user name or as writeKey in the body"
API_KEY_SENT = "an API key cannot send events: use the workspace's write key"
INVALID = "invalid write key"


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
