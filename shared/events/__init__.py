"""Typed, versioned event contracts shared by every service."""

from shared.events.codec import DecodeError, decode, encode, encode_key, typed_payload
from shared.events.envelope import SCHEMA_VERSION, Envelope, utcnow
from shared.events.topics import Topics
from shared.events.types import EVENT_TYPES

__all__ = [
    "EVENT_TYPES",
    "SCHEMA_VERSION",
    "DecodeError",
    "Envelope",
    "Topics",
    "decode",
    "encode",
    "encode_key",
    "typed_payload",
    "utcnow",
]
