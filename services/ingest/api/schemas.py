"""Request and response models of ingest's API (the tracking API's JSON schemas included)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.ingest.domain.messages import ID_FIELDS, OBJECT_FIELDS, STRING_FIELDS
from services.ingest.domain.workspaces import normalize_origin
from shared.privacy import normalize_email
from shared.workspaces import KeyKind

_ID = {"type": ["string", "integer", "null"]}
_TEXT = {"type": ["string", "null"]}
_OBJECT = {"type": ["object", "null"]}
# What `domain.messages.check` accepts, field by field (null counts as absent), so that
# schemathesis' invalid examples are exactly the ones ingest answers 400.
MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A message of Segment's HTTP Tracking API "
    "(https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/). "
    "userId or anonymousId is required; track needs `event`, alias `previousId`, group `groupId`.",
    "properties": {
        **{name: _ID for name in ID_FIELDS},
        **{name: _TEXT for name in STRING_FIELDS},
        "timestamp": {**_TEXT, "format": "date-time"},
        "sentAt": {**_TEXT, "format": "date-time"},
        **{name: _OBJECT for name in OBJECT_FIELDS},
    },
    "anyOf": [{"required": ["userId"]}, {"required": ["anonymousId"]}],
}
BATCH_SCHEMA = {
    "type": "object",
    "properties": {
        "batch": {
            "type": "array",
            "description": "messages as for /v1/track etc., each with its `type`; each is "
            "checked on its own and an invalid one is listed under `rejected`",
            "items": {},
        },
        "sentAt": {**_TEXT, "format": "date-time"},
        "writeKey": _TEXT,
    },
    "required": ["batch"],
}


class ErasureIn(BaseModel):
    user_id: str | None = Field(None, min_length=1, max_length=500)
    email: str | None = Field(None, min_length=3, max_length=500)

    @model_validator(mode="after")
    def _someone(self) -> ErasureIn:
        if self.user_id is None and self.email is None:
            raise ValueError("give the person's user_id, email or both")
        if self.email is not None and normalize_email(self.email) is None:
            raise ValueError("email: not an email address")
        return self


class ErasureOut(BaseModel):
    id: str
    status: str = Field(description="`accepted`: every service removes the person within seconds")


class WorkspaceOut(BaseModel):
    id: str
    name: str
    allowed_origins: list[str]
    truncate_ip: bool
    key_prefixes: dict[str, str] = Field(description="kind -> the first characters of the key")


class OriginsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[str] = Field(
        max_length=100, description="browser origins that may send events; empty: any"
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(normalize_origin(v) for v in values))


class RotatedOut(BaseModel):
    kind: KeyKind
    key: str = Field(description="the new key, shown this once; the old one stops working")
    workspace: WorkspaceOut
