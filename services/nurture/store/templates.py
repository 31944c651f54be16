"""Templates in the nurture schema (and the lead facts a preview renders for).

Every function runs in the caller's session (and transaction) and is scoped to one
workspace: an id of another workspace is simply not found. They never commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.domain.catalog import CatalogError
from services.nurture.domain.sequences import SequenceDefinition
from services.nurture.domain.templating import TemplateParts
from services.nurture.store.tables import sequence_versions, sequences, templates


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass(frozen=True)
class TemplateRecord:
    id: str
    name: str
    subject: str
    html: str
    text: str
    archived: bool
    created_at: datetime
    updated_at: datetime

    @property
    def parts(self) -> TemplateParts:
        return TemplateParts(subject=self.subject, html=self.html, text=self.text)


def _template(row: Any) -> TemplateRecord:
    m = row._mapping
    return TemplateRecord(
        id=m["id"],
        name=m["name"],
        subject=m["subject"],
        html=m["html"],
        text=m["text"],
        archived=m["archived"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


_TEMPLATE_COLUMNS = (
    templates.c.id,
    templates.c.name,
    templates.c.subject,
    templates.c.html,
    templates.c.text,
    templates.c.archived,
    templates.c.created_at,
    templates.c.updated_at,
)


async def list_templates(
    session: AsyncSession, workspace_id: str, *, include_archived: bool = False
) -> list[TemplateRecord]:
    """The workspace's templates, most recently changed first."""
    query = select(*_TEMPLATE_COLUMNS).where(templates.c.workspace_id == workspace_id)
    if not include_archived:
        query = query.where(templates.c.archived.is_(False))
    rows = await session.execute(query.order_by(templates.c.updated_at.desc(), templates.c.id))
    return [_template(r) for r in rows]


async def get_template(
    session: AsyncSession, workspace_id: str, template_id: str
) -> TemplateRecord | None:
    """A template of this workspace (archived ones too: old sequence versions use them)."""
    row = (
        await session.execute(
            select(*_TEMPLATE_COLUMNS).where(
                templates.c.workspace_id == workspace_id, templates.c.id == template_id
            )
        )
    ).first()
    return _template(row) if row else None


async def create_template(
    session: AsyncSession, workspace_id: str, name: str, parts: TemplateParts
) -> TemplateRecord:
    """Store a template (validate it with templating.validate first)."""
    row = (
        await session.execute(
            insert(templates)
            .values(
                id=new_id("tpl"),
                workspace_id=workspace_id,
                name=name,
                subject=parts.subject,
                html=parts.html,
                text=parts.text,
            )
            .returning(*_TEMPLATE_COLUMNS)
        )
    ).one()
    return _template(row)


async def replace_template(
    session: AsyncSession, workspace_id: str, template_id: str, name: str, parts: TemplateParts
) -> TemplateRecord | None:
    """Replace a template's name and parts; None when there is no such template.

    Raises CatalogError for an archived template."""
    found = await get_template(session, workspace_id, template_id)
    if found is None:
        return None
    if found.archived:
        raise CatalogError(f"template {template_id} is archived: create a new one instead")
    row = (
        await session.execute(
            update(templates)
            .where(templates.c.workspace_id == workspace_id, templates.c.id == template_id)
            .values(
                name=name,
                subject=parts.subject,
                html=parts.html,
                text=parts.text,
                updated_at=func.now(),
            )
            .returning(*_TEMPLATE_COLUMNS)
        )
    ).one()
    return _template(row)


async def sequences_using(session: AsyncSession, workspace_id: str, template_id: str) -> list[str]:
    """Ids of the workspace's sequences, not archived, whose current version uses it."""
    rows = await session.execute(
        select(sequences.c.id, sequence_versions.c.definition)
        .join(
            sequence_versions,
            and_(
                sequence_versions.c.sequence_id == sequences.c.id,
                sequence_versions.c.version == sequences.c.current_version,
            ),
        )
        .where(sequences.c.workspace_id == workspace_id, sequences.c.status != "archived")
        .order_by(sequences.c.id)
    )
    return [
        r.id
        for r in rows
        if template_id in SequenceDefinition.model_validate(r.definition).template_ids()
    ]


async def archive_template(session: AsyncSession, workspace_id: str, template_id: str) -> bool:
    """Archive a template (kept for the sequence versions that used it); False when there
    is no such template. Raises CatalogError while a live sequence's current version uses
    it."""
    found = await get_template(session, workspace_id, template_id)
    if found is None:
        return False
    if found.archived:
        return True
    users = await sequences_using(session, workspace_id, template_id)
    if users:
        raise CatalogError(
            f"template {template_id} is used by the current version of sequence(s) "
            f"{', '.join(users)}: change or archive them first"
        )
    await session.execute(
        update(templates)
        .where(templates.c.workspace_id == workspace_id, templates.c.id == template_id)
        .values(archived=True, updated_at=func.now())
    )
    return True
