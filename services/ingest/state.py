"""What the ingest API needs while it runs, built once in main.py."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem
from limits.aio.strategies import FixedWindowRateLimiter

from services.ingest.privacy import ErasedIdentities
from services.ingest.publishing import TouchpointPublisher
from services.ingest.segment import Limits
from services.ingest.settings import IngestSettings
from shared.workspaces import WorkspaceDirectory


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
        return max(1, math.ceil(stats.reset_time - time.time()))
