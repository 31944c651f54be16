"""Typed dependencies of ingest's routes: what the API needs while it runs (built once in
main.py, read through `State`), and who is sending events."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from limits import RateLimitItem
from limits.aio.strategies import FixedWindowRateLimiter

from services.ingest.adapters.publishing import TouchpointPublisher
from services.ingest.domain.auth import API_KEY_SENT, INVALID, MISSING, AuthError, write_key_of
from services.ingest.domain.limits import Limits, retry_after
from services.ingest.domain.privacy import ErasedIdentities
from services.ingest.settings import IngestSettings
from shared.deps import app_state
from shared.workspaces import KEY_PREFIX, WorkspaceDirectory, WorkspaceInfo


@dataclass
class IngestState:
    settings: IngestSettings
    directory: WorkspaceDirectory
    touchpoints: TouchpointPublisher
    limiter: FixedWindowRateLimiter
    rate: RateLimitItem
    limits: Limits
    tracker_js: bytes
    erased: ErasedIdentities

    async def retry_after_if_limited(self, workspace_id: str, events: int) -> int | None:
        """Count `events` against the workspace's rate; seconds to wait if over it."""
        if events == 0 or await self.limiter.hit(self.rate, workspace_id, cost=events):
            return None
        stats = await self.limiter.get_window_stats(self.rate, workspace_id)
        return retry_after(stats.reset_time, time.time())


ingest_state = app_state("ingest", IngestState)
State = Annotated[IngestState, Depends(ingest_state)]


def authenticate(
    authorization: str | None, body: Any, directory: WorkspaceDirectory
) -> WorkspaceInfo:
    """The workspace whose write key the request carries (raises AuthError)."""
    key = write_key_of(authorization, body)
    if key is None:
        raise AuthError(401, MISSING)
    workspace = directory.by_write_key(key)
    if workspace is not None:
        return workspace
    if key.startswith(KEY_PREFIX["api"]) and directory.by_api_key(key) is not None:
        raise AuthError(401, API_KEY_SENT)
    raise AuthError(401, INVALID)
