"""What `/readyz` tells anyone who asks, and what it keeps for the log.

`/readyz` is public (probes and load balancers call it without a key), and a check's reason
is an exception's text: it can name hosts, addresses, ports, users and driver versions. So the
answer says only "ok" or "unavailable" per check, and the reason goes to the service's log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("leadflow.readiness")

OK = "ok"
UNAVAILABLE = "unavailable"


def public_readiness(checks: Mapping[str, str]) -> tuple[dict[str, Any], int]:
    """The body and status of /readyz for these checks ("ok" or a reason each); logs the
    reasons of those that are not ok."""
    for name, state in checks.items():
        if state != OK:
            log.warning("not ready: %s: %s", name, state)
    public = {name: OK if state == OK else UNAVAILABLE for name, state in checks.items()}
    ready = all(state == OK for state in public.values())
    return {"status": OK if ready else UNAVAILABLE, "checks": public}, 200 if ready else 503
