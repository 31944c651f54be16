"""Privacy rules: IP truncation, and erasure (a person's identities kept as keyed hashes only,
shared/privacy.py; their later events dropped before they reach Kafka)."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.events import Envelope
from shared.privacy import identity_hash, normalize_email

Check = Callable[[dict[str, Any]], bool]


def truncate_ip(ip: str) -> str:
    """Keep the network, drop the host: /24 for IPv4, /48 for IPv6."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def subject_hashes(
    secret: str, workspace_id: str, user_id: str | None, email: str | None
) -> list[str]:
    found = []
    if user_id:
        found.append(identity_hash(secret, workspace_id, "user", user_id))
    if email:
        found.append(identity_hash(secret, workspace_id, "email", email))
    return found


@dataclass(frozen=True)
class Erasure:
    """One erasure request: what is stored (hashes), audited and published."""

    id: str
    workspace_id: str
    user_id: str | None
    email: str | None  # normalised
    hashes: list[str]

    @classmethod
    def new(cls, secret: str, workspace_id: str, user_id: str | None, email: str | None) -> Erasure:
        email = normalize_email(email) if email else None
        return cls(
            id="er_" + uuid.uuid4().hex[:16],
            workspace_id=workspace_id,
            user_id=user_id,
            email=email,
            hashes=subject_hashes(secret, workspace_id, user_id, email),
        )

    @property
    def by(self) -> list[str]:
        """Which identifiers were given (for the audit log)."""
        return [k for k, v in (("user_id", self.user_id), ("email", self.email)) if v]

    def event(self, now: datetime) -> Envelope:
        """`privacy.erasure_requested`, for every service to remove the person."""
        return Envelope(
            type="privacy.erasure_requested",
            workspace_id=self.workspace_id,
            lead_key=str(self.user_id or self.email),  # the person's partition, by userId
            occurred_at=now,
            payload={"erasure_id": self.id, "user_id": self.user_id, "email": self.email},
        )


class ErasedIdentities:
    """Every workspace's erased identity hashes, in memory for the tracking hot path."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._by_workspace: dict[str, set[str]] = {}

    def add(self, workspace_id: str, hashes: list[str]) -> None:
        self._by_workspace.setdefault(workspace_id, set()).update(hashes)

    def replace(self, by_workspace: dict[str, set[str]]) -> None:
        """Everything, as stored (a reload)."""
        self._by_workspace = by_workspace

    def check_for(self, workspace_id: str) -> Check | None:
        """A test for one workspace's raw messages, or None when it erased nobody (the
        usual case, which then costs nothing)."""
        hashes = self._by_workspace.get(workspace_id)
        if not hashes:
            return None
        secret = self.secret

        def erased(raw: dict[str, Any]) -> bool:
            user_id = raw.get("userId")
            if (
                user_id not in (None, "")
                and identity_hash(secret, workspace_id, "user", str(user_id)) in hashes
            ):
                return True
            context = raw.get("context")
            for traits in (
                raw.get("traits"),
                context.get("traits") if isinstance(context, dict) else None,
            ):
                email = normalize_email(traits.get("email")) if isinstance(traits, dict) else None
                if email and identity_hash(secret, workspace_id, "email", email) in hashes:
                    return True
            return False

        return erased
