"""Dead letters: what could not be decoded or processed, with the reason, never dropped."""

from __future__ import annotations

import base64
from datetime import datetime

import orjson
from pydantic import BaseModel, Field

from shared.bus.producer import Publisher
from shared.events import utcnow


class DeadLetter(BaseModel):
    service: str
    reason: str
    error_type: str
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    value: str | None = Field(None, description="the original bytes, as UTF-8 text when possible")
    value_base64: str | None = None
    failed_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def of_bytes(cls, value: bytes | None, **fields: object) -> DeadLetter:
        if value is None:
            return cls.model_validate(fields)
        try:
            return cls.model_validate({**fields, "value": value.decode()})
        except UnicodeDecodeError:
            return cls.model_validate({**fields, "value_base64": base64.b64encode(value).decode()})


class DeadLetterSink:
    def __init__(self, publisher: Publisher, topic: str) -> None:
        self.publisher = publisher
        self.topic = topic

    async def put(self, letter: DeadLetter, key: bytes | None = None) -> None:
        """Returns once Kafka holds the letter, so the caller may then move past the input."""
        value = orjson.dumps(letter.model_dump(mode="json"))
        await (await self.publisher.send(self.topic, value, key))
