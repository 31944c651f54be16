"""How services remember whom they must forget without keeping who it was: an identifier
(a userId, an email, an anonymous id, a lead id) is kept only as a keyed hash (HMAC-SHA-256
with LEADFLOW_SECRET_KEY), so a stolen table cannot be reversed by hashing guessed emails."""

from __future__ import annotations

import hashlib
import hmac


def identity_hash(secret: str, workspace_id: str, kind: str, value: str) -> str:
    message = f"{workspace_id}\x00{kind}\x00{value}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def normalize_email(value: object) -> str | None:
    """Emails compare lower-cased and trimmed everywhere (scoring's identity rules too)."""
    if not isinstance(value, str) or "@" not in value:
        return None
    return value.strip().lower() or None
