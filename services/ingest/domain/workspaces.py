"""Workspaces: what one is, what may change, and the state every service caches from the
compacted workspaces topic (key hashes only, never keys)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from shared.events import Envelope


class WorkspaceNotFound(LookupError):
    pass


@dataclass
class Workspace:
    id: str
    name: str
    allowed_origins: list[str]
    truncate_ip: bool
    created_at: datetime
    key_prefixes: dict[str, str] = field(default_factory=dict)


@dataclass
class IssuedKeys:
    """Plain keys, shown once when created or rotated; only their hashes are stored."""

    workspace: Workspace
    write_key: str | None = None
    api_key: str | None = None


def shown(key: str) -> str:
    """A key as the audit log names it: its first characters."""
    return key[:7] + "…"


def changes(
    *, name: str | None, allowed_origins: list[str] | None, truncate_ip: bool | None
) -> dict[str, Any]:
    """The settings a change sets (None leaves one as it is)."""
    values = {"name": name, "allowed_origins": allowed_origins, "truncate_ip": truncate_ip}
    return {k: v for k, v in values.items() if v is not None}


def state_event(
    workspace: Workspace, active_keys: list[tuple[str, str]], now: datetime
) -> Envelope:
    """`workspace.changed`: the workspace's whole state, with the hashes of its active keys
    (`(kind, hash)` pairs), for the compacted topic."""
    return Envelope(
        type="workspace.changed",
        workspace_id=workspace.id,
        lead_key=workspace.id,
        occurred_at=now,
        payload={
            "name": workspace.name,
            "write_key_hashes": [h for kind, h in active_keys if kind == "write"],
            "api_key_hashes": [h for kind, h in active_keys if kind == "api"],
            "allowed_origins": workspace.allowed_origins,
            "truncate_ip": workspace.truncate_ip,
        },
    )


def normalize_origin(value: str) -> str:
    """`https://www.acme.example` as a browser sends it in `Origin`: scheme, host and a
    non-default port only. Raises ValueError naming what is wrong."""
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an origin such as https://www.acme.example")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r}: an origin has no path, query or user (scheme://host[:port])")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r}: the port is not a number from 1 to 65535") from None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")
