"""The one envelope every LeadFlow message travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """A message on any LeadFlow topic; `id` is also its idempotency key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(min_length=1)
    workspace_id: str = Field(min_length=1)
    lead_key: str = Field(min_length=1)
    occurred_at: AwareDatetime
    received_at: AwareDatetime = Field(default_factory=utcnow)
    schema_version: int = SCHEMA_VERSION
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        """Kafka message key: one lead's events stay ordered within a partition."""
        return f"{self.workspace_id}:{self.lead_key}"
