"""Reporting files touches under identity keys ("user:…", "email:…", "anon:…"), but stores
them only as keyed hashes of the identifier (shared/privacy.py): its tables, and the BI views
over them, never hold an email, a userId or an anonymous id. Lead ids stay as they are
(nothing but scoring links them to a person)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from shared.privacy import identity_hash

Pseudonymize = Callable[[str, str], str]
"""(workspace_id, key) -> the key as stored."""


def pseudonymizer(secret: str) -> Pseudonymize:
    # A person's touches and lead events name the same keys again and again: an HMAC per
    # distinct key, not per event (a pure function of its arguments).
    @functools.lru_cache(maxsize=65536)
    def stored(workspace_id: str, key: str) -> str:
        kind, _, value = key.partition(":")
        if kind == "lead":
            return key
        return f"{kind}:{identity_hash(secret, workspace_id, kind, value)[:32]}"

    return stored
