"""Model artifacts are pickles: unpickling runs code. So the registry signs each artifact with
the service's secret when a model is registered, and scoring loads only an artifact whose
signature it can verify: a row written into the models table by anyone without the secret
(a database account, a restored dump) is refused, never unpickled."""

from __future__ import annotations

import hashlib
import hmac


def signature(artifact: bytes, secret: str) -> str:
    """HMAC-SHA256 of the artifact under the service's secret, hex."""
    return hmac.new(secret.encode(), artifact, hashlib.sha256).hexdigest()


def verified(artifact: bytes, stored: str | None, secret: str) -> bool:
    """True when `stored` is the artifact's signature under `secret` (constant-time)."""
    return stored is not None and hmac.compare_digest(stored, signature(artifact, secret))
