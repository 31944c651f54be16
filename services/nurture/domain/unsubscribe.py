"""Unsubscribe links: the signed token every email carries (pure: no I/O).

The token is an itsdangerous ``URLSafeSerializer`` over ``[workspace_id, lead_id, email,
send_id]`` with the service secret and its own salt (``SALT``), so it cannot be forged and
cannot be confused with an open or click token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "leadflow.nurture.unsubscribe.v1"
_EVENT_IDS = uuid.UUID("6b0f3c2a-9d4e-4a71-8e25-3f1c7a9b5d60")


@dataclass(frozen=True)
class UnsubscribeToken:
    workspace_id: str
    lead_id: str
    email: str
    send_id: str


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def unsubscribe_token(
    secret: str, *, workspace_id: str, lead_id: str, email: str, send_id: str
) -> str:
    return str(_serializer(secret).dumps([workspace_id, lead_id, email, send_id]))


def unsubscribe_url(
    public_url: str, secret: str, *, workspace_id: str, lead_id: str, email: str, send_id: str
) -> str:
    """``{public_url}/u/{token}``: where the email's unsubscribe link and header point."""
    token = unsubscribe_token(
        secret, workspace_id=workspace_id, lead_id=lead_id, email=email, send_id=send_id
    )
    return f"{public_url.rstrip('/')}/u/{token}"


def read_token(token: str, secret: str) -> UnsubscribeToken | None:
    """The token's fields, or None when it does not verify."""
    try:
        fields = _serializer(secret).loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(fields, list)
        or len(fields) != 4
        or not all(isinstance(f, str) and f for f in fields)
    ):
        return None
    return UnsubscribeToken(*fields)


def unsubscribed_event_id(workspace_id: str, email: str) -> uuid.UUID:
    return uuid.uuid5(_EVENT_IDS, f"email.unsubscribed:{workspace_id}:{email.lower()}")


def mask(email: str) -> str:
    """``a***@example.com``: enough for the owner to recognise, little for anyone else."""
    local, at, domain = email.partition("@")
    if not at:
        return "your address"
    return f"{local[:1]}***@{domain}"
