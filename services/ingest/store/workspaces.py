"""Workspaces and their keys: the one place that creates, changes and rotates them.

Every change is published (via the outbox) as the workspace's whole state on the compacted
workspaces topic, with key hashes only; every service caches that (shared/workspaces.py).
The functions take the caller's unit of work and never commit.
"""

from __future__ import annotations

import secrets

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.workspaces import (
    IssuedKeys,
    Workspace,
    WorkspaceNotFound,
    changes,
    shown,
    state_event,
)
from services.ingest.store.tables import audit_log, workspace_keys, workspaces
from shared.db import UnitOfWork, audit
from shared.events import Topics, utcnow
from shared.workspaces import KeyKind, hash_key, new_key


async def create(
    uow: UnitOfWork,
    topics: Topics,
    *,
    name: str,
    allowed_origins: list[str],
    truncate_ip: bool,
    actor: str = "cli",
) -> IssuedKeys:
    ws_id = "ws_" + secrets.token_hex(8)
    await uow.session.execute(
        insert(workspaces).values(
            id=ws_id, name=name, allowed_origins=allowed_origins, truncate_ip=truncate_ip
        )
    )
    write_key = await _add_key(uow.session, ws_id, "write")
    api_key = await _add_key(uow.session, ws_id, "api")
    workspace = await _publish(uow, topics, ws_id)
    await audit.record(
        uow.session,
        audit_log,
        ws_id,
        "workspace.created",
        actor,
        keys=[shown(write_key), shown(api_key)],
    )
    return IssuedKeys(workspace, write_key=write_key, api_key=api_key)


async def rotate_key(
    uow: UnitOfWork, topics: Topics, ws_id: str, kind: KeyKind, *, actor: str = "cli"
) -> IssuedKeys:
    """Revoke the workspace's key of that kind at once and issue a new one."""
    await get(uow.session, ws_id)
    await uow.session.execute(
        update(workspace_keys)
        .where(
            workspace_keys.c.workspace_id == ws_id,
            workspace_keys.c.kind == kind,
            workspace_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
    )
    key = await _add_key(uow.session, ws_id, kind)
    workspace = await _publish(uow, topics, ws_id)
    await audit.record(
        uow.session, audit_log, ws_id, "key.rotated", actor, kind=kind, new=shown(key)
    )
    return IssuedKeys(workspace, **{f"{kind}_key": key})


async def change(
    uow: UnitOfWork,
    topics: Topics,
    ws_id: str,
    *,
    name: str | None = None,
    allowed_origins: list[str] | None = None,
    truncate_ip: bool | None = None,
    actor: str = "cli",
) -> Workspace:
    await get(uow.session, ws_id)
    values = changes(name=name, allowed_origins=allowed_origins, truncate_ip=truncate_ip)
    if values:
        await uow.session.execute(
            update(workspaces).where(workspaces.c.id == ws_id).values(**values)
        )
        await audit.record(uow.session, audit_log, ws_id, "workspace.changed", actor, **values)
    return await _publish(uow, topics, ws_id)


async def get(session: AsyncSession, ws_id: str) -> Workspace:
    """One workspace as stored (raises WorkspaceNotFound)."""
    row = (await session.execute(select(workspaces).where(workspaces.c.id == ws_id))).first()
    if row is None:
        raise WorkspaceNotFound(ws_id)
    keys = (
        await session.execute(
            select(workspace_keys.c.kind, workspace_keys.c.prefix).where(
                workspace_keys.c.workspace_id == ws_id, workspace_keys.c.revoked_at.is_(None)
            )
        )
    ).all()
    return Workspace(
        id=row.id,
        name=row.name,
        allowed_origins=list(row.allowed_origins),
        truncate_ip=row.truncate_ip,
        created_at=row.created_at,
        key_prefixes={k.kind: k.prefix + "…" for k in keys},
    )


async def list_all(session: AsyncSession) -> list[Workspace]:
    rows = (
        await session.execute(select(workspaces.c.id).order_by(workspaces.c.created_at))
    ).scalars()
    return [await get(session, ws_id) for ws_id in rows]


async def _add_key(session: AsyncSession, ws_id: str, kind: KeyKind) -> str:
    key = new_key(kind)
    await session.execute(
        insert(workspace_keys).values(
            hash=hash_key(key), workspace_id=ws_id, kind=kind, prefix=key[:7]
        )
    )
    return key


async def _publish(uow: UnitOfWork, topics: Topics, ws_id: str) -> Workspace:
    """Queue the workspace's whole current state for the compacted topic."""
    workspace = await get(uow.session, ws_id)
    active = (
        await uow.session.execute(
            select(workspace_keys.c.kind, workspace_keys.c.hash).where(
                workspace_keys.c.workspace_id == ws_id, workspace_keys.c.revoked_at.is_(None)
            )
        )
    ).all()
    event = state_event(workspace, [(k.kind, k.hash) for k in active], utcnow())
    await uow.emit(topics.workspaces, event)
    return workspace
