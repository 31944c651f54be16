"""The one envelope every LeadFlow message travels in."""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PrivateAttr

from shared.events.types import EVENT_TYPES, Payload

SCHEMA_VERSION = 1
P = TypeVar("P", bound=Payload)


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
    # The payload as its type's model, kept once decoding validated it (see `data`).
    _data: Payload | None = PrivateAttr(default=None)

    @property
    def data(self) -> Payload:
        """The payload as its type's model (`EVENT_TYPES[type]`): what handlers read, so a
        renamed field fails loudly instead of reading as None. Validated once, then kept;
        raises ValidationError or KeyError for an invalid payload or unknown type."""
        # The private dict directly: `self._data` goes through BaseModel.__getattr__ (~3 us).
        private = self.__pydantic_private__
        assert private is not None
        data: Payload | None = private.get("_data")
        if data is None:
            data = private["_data"] = EVENT_TYPES[self.type].model_validate(self.payload)
        return data

    def data_as(self, model: builtins.type[P]) -> P:
        """`data`, checked to be `model` (a handler registered for the wrong type fails)."""
        data = self.data
        if not isinstance(data, model):
            raise TypeError(f"{self.type} carries {type(data).__name__}, not {model.__name__}")
        return data

    def __eq__(self, other: object) -> bool:
        # Fields only: whether `data` was worked out yet does not make two messages differ.
        if not isinstance(other, Envelope):
            return NotImplemented
        return self.__dict__ == other.__dict__

    @property
    def key(self) -> str:
        """Kafka message key: one lead's events stay ordered within a partition."""
        return f"{self.workspace_id}:{self.lead_key}"
