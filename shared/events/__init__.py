"""Typed, versioned event contracts shared by every service."""

from shared.events.codec import DecodeError, decode, encode, encode_key, typed_payload
from shared.events.envelope import SCHEMA_VERSION, Envelope, utcnow
from shared.events.topics import Topics
from shared.events.types import (
    BEHAVIOUR_TYPES,
    EMAIL_TYPES,
    ENROLLMENT_TYPES,
    EVENT_TYPES,
    LEAD_TYPES,
    STAGES,
    TOUCHPOINT_TYPES,
    Payload,
)

__all__ = [
    "BEHAVIOUR_TYPES",
    "EMAIL_TYPES",
    "ENROLLMENT_TYPES",
    "EVENT_TYPES",
    "LEAD_TYPES",
    "SCHEMA_VERSION",
    "STAGES",
    "TOUCHPOINT_TYPES",
    "DecodeError",
    "Envelope",
    "Payload",
    "Topics",
    "decode",
    "encode",
    "encode_key",
    "typed_payload",
    "utcnow",
]
