"""Wire format: JSON (orjson to encode, pydantic's Rust parser to decode and validate)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from pydantic import BaseModel, ValidationError

from shared.events.envelope import SCHEMA_VERSION, Envelope
from shared.events.types import EVENT_TYPES, Payload


class DecodeError(ValueError):
    """A message that is not a valid LeadFlow event; the text says why."""


def encode(envelope: Envelope) -> bytes:
    """The envelope's JSON: the bytes of `orjson.dumps(envelope.model_dump(mode="python"))`,
    without pydantic's copy of the payload first (fields in the model's order)."""
    return orjson.dumps(
        {
            "id": envelope.id,
            "type": envelope.type,
            "workspace_id": envelope.workspace_id,
            "lead_key": envelope.lead_key,
            "occurred_at": envelope.occurred_at,
            "received_at": envelope.received_at,
            "schema_version": envelope.schema_version,
            "payload": envelope.payload,
        },
        default=_dumped,
    )


def _dumped(value: Any) -> Any:
    """What model_dump would have made of a value orjson does not know (a model inside a
    payload)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python")
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def encode_key(envelope: Envelope) -> bytes:
    return envelope.key.encode()


class Record(NamedTuple):
    """An encoded message, ready for Kafka."""

    value: bytes
    key: bytes

    @classmethod
    def of(cls, envelope: Envelope) -> Record:
        return cls(encode(envelope), encode_key(envelope))


def encode_fields(
    *,
    id: uuid.UUID | str,
    type: str,
    workspace_id: str,
    lead_key: str,
    occurred_at: datetime,
    received_at: datetime,
    payload: dict[str, Any],
) -> Record:
    """What `Record.of(Envelope(...))` gives for the same fields, without building the model.

    Nothing is checked: only for a hot path whose fields are already what Envelope accepts
    unchanged (an id in canonical form, non-empty strings, aware datetimes); the caller's tests
    compare both encodings. Keys in the envelope's field order, so the bytes are the same.
    """
    value = orjson.dumps(
        {
            "id": id,
            "type": type,
            "workspace_id": workspace_id,
            "lead_key": lead_key,
            "occurred_at": occurred_at,
            "received_at": received_at,
            "schema_version": SCHEMA_VERSION,
            "payload": payload,
        }
    )
    return Record(value, f"{workspace_id}:{lead_key}".encode())


def decode(data: bytes | None) -> Envelope:
    """Parse and validate an envelope and its payload for a known type."""
    if data is None:
        raise DecodeError("empty message value")
    try:
        envelope = Envelope.model_validate_json(data)
    except ValidationError as exc:
        raise DecodeError(f"invalid envelope: {_errors(exc)}") from exc
    typed_payload(envelope)
    return envelope


def typed_payload(envelope: Envelope) -> Payload:
    """The envelope's payload as its type's model; DecodeError if unknown type or invalid."""
    if envelope.type not in EVENT_TYPES:
        raise DecodeError(f"unknown event type {envelope.type!r}")
    try:
        return envelope.data  # validated once, then kept on the envelope for its handler
    except ValidationError as exc:
        raise DecodeError(f"invalid {envelope.type} payload: {_errors(exc)}") from exc


def _errors(exc: ValidationError) -> str:
    parts: list[Any] = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
