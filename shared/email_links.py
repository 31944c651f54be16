"""Signed tokens for email open pixels and tracked links (nurture mints, ingest verifies).

Signed with HMAC (itsdangerous) under LEADFLOW_SECRET_KEY: a token cannot be forged, and a
click token carries its own destination, so /t/c/ can never be used as an open redirect.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "leadflow.email-link.v1"


@dataclass(frozen=True)
class EmailLink:
    workspace_id: str
    lead_key: str
    lead_id: str
    send_id: str
    sequence_id: str | None = None
    step_id: str | None = None
    url: str | None = None  # clicks only


class InvalidToken(ValueError):
    pass


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def sign(link: EmailLink, secret: str) -> str:
    fields = [
        link.workspace_id,
        link.lead_key,
        link.lead_id,
        link.send_id,
        link.sequence_id,
        link.step_id,
        link.url,
    ]
    return str(_serializer(secret).dumps(fields))


def verify(token: str, secret: str) -> EmailLink:
    try:
        fields = _serializer(secret).loads(token)
    except BadSignature:
        raise InvalidToken("invalid or tampered token") from None
    if not isinstance(fields, list) or len(fields) != 7:
        raise InvalidToken("malformed token")
    return EmailLink(*fields)
