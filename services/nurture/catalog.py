"""What marketers configure, in the nurture schema: templates, sequences and their versions,
suppressions and the workspace's settings.

Every function runs in the caller's session (and transaction) and is scoped to one
workspace: an id of another workspace is simply not found. The HTTP layer (api.py) turns
the outcomes into status codes.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import DateTime, and_, func, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.config import NurtureConfig
from services.nurture.models import (
    enrollments,
    leads,
    sends,
    sequence_versions,
    sequences,
    suppressions,
    templates,
    workspace_settings,
)
from services.nurture.sequences import EmailStep, SequenceDefinition
from services.nurture.templating import TemplateParts

Status = Literal["draft", "active", "paused", "archived"]
Action = Literal["activate", "pause", "resume", "archive"]
SuppressionReason = Literal["unsubscribed", "bounced", "complaint", "manual"]


class CatalogError(Exception):
    """A request that cannot be carried out in the current state (HTTP 409)."""


class BadCursor(ValueError):
    """A pagination cursor that this module did not hand out."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


# --------------------------------------------------------------------------- templates
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


async def lead_facts(
    session: AsyncSession, workspace_id: str, lead_id: str
) -> dict[str, Any] | None:
    """What nurture knows of a lead, shaped like a lead event's payload (for
    templating.lead_context); a merged lead is followed to the lead it was merged into."""
    wanted, seen = lead_id, set[str]()
    while wanted not in seen:
        seen.add(wanted)
        row = (
            await session.execute(
                select(leads).where(leads.c.workspace_id == workspace_id, leads.c.lead_id == wanted)
            )
        ).first()
        if row is None:
            return None
        m = row._mapping
        if m["merged_into"] and m["merged_into"] not in seen:
            wanted = m["merged_into"]
            continue
        return {
            "lead_id": m["lead_id"],
            "email": m["email"],
            "traits": dict(m["traits"] or {}),
            "score": m["score"],
            "fit": m["fit"],
            "engagement": m["engagement"],
            "stage": m["stage"],
        }
    return None


# --------------------------------------------------------------------------- sequences
@dataclass(frozen=True)
class SequenceRecord:
    id: str
    name: str
    status: Status
    current_version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SequenceStats:
    active: int = 0
    completed: int = 0
    exited: int = 0
    sent: int = 0


@dataclass(frozen=True)
class VersionRecord:
    sequence_id: str
    version: int
    created_at: datetime
    definition: SequenceDefinition


@dataclass(frozen=True)
class TemplateRef:
    """A template id a definition references, and where (a pydantic-style location)."""

    loc: tuple[str | int, ...]
    template_id: str


_SEQUENCE_COLUMNS = (
    sequences.c.id,
    sequences.c.name,
    sequences.c.status,
    sequences.c.current_version,
    sequences.c.created_at,
    sequences.c.updated_at,
)


def _sequence(row: Any) -> SequenceRecord:
    m = row._mapping
    return SequenceRecord(
        id=m["id"],
        name=m["name"],
        status=m["status"],
        current_version=m["current_version"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def definition_json(definition: SequenceDefinition) -> dict[str, Any]:
    """How a definition is stored (and shown): JSON, with the aliases ("else")."""
    return definition.model_dump(mode="json", by_alias=True)


def template_refs(definition: SequenceDefinition) -> list[TemplateRef]:
    """Every template reference of a definition, with its location in the definition."""
    found: list[TemplateRef] = []
    for index, step in enumerate(definition.steps):
        if not isinstance(step, EmailStep):
            continue
        if step.variants:
            for v_index, variant in enumerate(step.variants):
                loc = ("steps", index, "email", "variants", v_index, "template_id")
                found.append(TemplateRef(loc, variant.template_id))
        elif step.template_id:
            found.append(TemplateRef(("steps", index, "email", "template_id"), step.template_id))
    return found


async def unknown_templates(
    session: AsyncSession, workspace_id: str, definition: SequenceDefinition
) -> list[TemplateRef]:
    """The references to templates that this workspace does not have (or archived)."""
    refs = template_refs(definition)
    ids = sorted({r.template_id for r in refs})
    if not ids:
        return []
    known = set(
        (
            await session.scalars(
                select(templates.c.id).where(
                    templates.c.workspace_id == workspace_id,
                    templates.c.id.in_(ids),
                    templates.c.archived.is_(False),
                )
            )
        ).all()
    )
    return [r for r in refs if r.template_id not in known]


async def _stats(
    session: AsyncSession, workspace_id: str, sequence_ids: list[str]
) -> dict[str, SequenceStats]:
    counts: dict[str, dict[str, int]] = {sid: {} for sid in sequence_ids}
    if not sequence_ids:
        return {}
    rows = await session.execute(
        select(enrollments.c.sequence_id, enrollments.c.status, func.count())
        .where(
            enrollments.c.workspace_id == workspace_id,
            enrollments.c.sequence_id.in_(sequence_ids),
        )
        .group_by(enrollments.c.sequence_id, enrollments.c.status)
    )
    for sequence_id, status, count in rows:
        counts[sequence_id][status] = int(count)
    rows = await session.execute(
        select(sends.c.sequence_id, func.count())
        .where(
            sends.c.workspace_id == workspace_id,
            sends.c.sequence_id.in_(sequence_ids),
            sends.c.status == "sent",
        )
        .group_by(sends.c.sequence_id)
    )
    for sequence_id, count in rows:
        counts[sequence_id]["sent"] = int(count)
    return {
        sid: SequenceStats(
            active=c.get("active", 0),
            completed=c.get("completed", 0),
            exited=c.get("exited", 0),
            sent=c.get("sent", 0),
        )
        for sid, c in counts.items()
    }


async def list_sequences(
    session: AsyncSession, workspace_id: str, *, status: Status | None = None
) -> list[tuple[SequenceRecord, SequenceStats]]:
    """The workspace's sequences (newest first) with their headline counts."""
    query = select(*_SEQUENCE_COLUMNS).where(sequences.c.workspace_id == workspace_id)
    if status is not None:
        query = query.where(sequences.c.status == status)
    found = [
        _sequence(r)
        for r in await session.execute(
            query.order_by(sequences.c.created_at.desc(), sequences.c.id)
        )
    ]
    stats = await _stats(session, workspace_id, [s.id for s in found])
    return [(s, stats.get(s.id, SequenceStats())) for s in found]


async def get_sequence(
    session: AsyncSession, workspace_id: str, sequence_id: str, *, lock: bool = False
) -> SequenceRecord | None:
    query = select(*_SEQUENCE_COLUMNS).where(
        sequences.c.workspace_id == workspace_id, sequences.c.id == sequence_id
    )
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return _sequence(row) if row else None


async def sequence_stats(
    session: AsyncSession, workspace_id: str, sequence_id: str
) -> SequenceStats:
    return (await _stats(session, workspace_id, [sequence_id]))[sequence_id]


async def list_versions(
    session: AsyncSession, workspace_id: str, sequence_id: str
) -> list[VersionRecord]:
    """Every version of a sequence of this workspace, oldest first ([] when unknown)."""
    rows = await session.execute(
        select(sequence_versions)
        .join(sequences, sequences.c.id == sequence_versions.c.sequence_id)
        .where(sequences.c.workspace_id == workspace_id, sequences.c.id == sequence_id)
        .order_by(sequence_versions.c.version)
    )
    return [_version(r) for r in rows]


async def get_version(
    session: AsyncSession, workspace_id: str, sequence_id: str, version: int
) -> VersionRecord | None:
    row = (
        await session.execute(
            select(sequence_versions)
            .join(sequences, sequences.c.id == sequence_versions.c.sequence_id)
            .where(
                sequences.c.workspace_id == workspace_id,
                sequences.c.id == sequence_id,
                sequence_versions.c.version == version,
            )
        )
    ).first()
    return _version(row) if row else None


def _version(row: Any) -> VersionRecord:
    m = row._mapping
    return VersionRecord(
        sequence_id=m["sequence_id"],
        version=m["version"],
        created_at=m["created_at"],
        definition=SequenceDefinition.model_validate(m["definition"]),
    )


async def _add_version(
    session: AsyncSession, sequence_id: str, version: int, definition: SequenceDefinition
) -> None:
    await session.execute(
        insert(sequence_versions).values(
            sequence_id=sequence_id, version=version, definition=definition_json(definition)
        )
    )


async def create_sequence(
    session: AsyncSession, workspace_id: str, name: str, definition: SequenceDefinition
) -> SequenceRecord:
    """A new draft sequence with `definition` as version 1 (check unknown_templates first)."""
    sequence_id = new_id("seq")
    row = (
        await session.execute(
            insert(sequences)
            .values(
                id=sequence_id,
                workspace_id=workspace_id,
                name=name,
                status="draft",
                current_version=1,
            )
            .returning(*_SEQUENCE_COLUMNS)
        )
    ).one()
    await _add_version(session, sequence_id, 1, definition)
    return _sequence(row)


async def update_sequence(
    session: AsyncSession,
    workspace_id: str,
    sequence_id: str,
    *,
    name: str | None = None,
    definition: SequenceDefinition | None = None,
) -> SequenceRecord | None:
    """Rename and/or save a new definition; None when there is no such sequence.

    A definition that differs from the current one becomes version N+1 and the current
    version; the older versions stay as they were (enrollments keep the one they started
    with). The same definition again adds no version. Raises CatalogError for an archived
    sequence."""
    found = await get_sequence(session, workspace_id, sequence_id, lock=True)
    if found is None:
        return None
    if found.status == "archived":
        raise CatalogError(f"sequence {sequence_id} is archived and can no longer be changed")
    values: dict[str, Any] = {}
    if name is not None and name != found.name:
        values["name"] = name
    if definition is not None:
        current = await get_version(session, workspace_id, sequence_id, found.current_version)
        if current is None or definition_json(current.definition) != definition_json(definition):
            version = found.current_version + 1
            await _add_version(session, sequence_id, version, definition)
            values["current_version"] = version
    if not values:
        return found
    row = (
        await session.execute(
            update(sequences)
            .where(sequences.c.id == sequence_id)
            .values(**values, updated_at=func.now())
            .returning(*_SEQUENCE_COLUMNS)
        )
    ).one()
    return _sequence(row)


_TRANSITIONS: dict[Action, tuple[frozenset[str], Status]] = {
    "activate": (frozenset({"draft"}), "active"),
    "pause": (frozenset({"active"}), "paused"),
    "resume": (frozenset({"paused"}), "active"),
    "archive": (frozenset({"draft", "active", "paused", "archived"}), "archived"),
}


def transition_problem(status: str, action: Action) -> str | None:
    """Why `action` is not allowed for a sequence in `status` (None: it is)."""
    allowed, _ = _TRANSITIONS[action]
    if status in allowed:
        return None
    if status == "archived":
        return "the sequence is archived: archiving is final"
    reasons: dict[tuple[str, Action], str] = {
        ("active", "activate"): "the sequence is already active",
        ("paused", "activate"): "the sequence is paused: resume it instead",
        ("draft", "pause"): "only an active sequence can be paused; this one is a draft",
        ("paused", "pause"): "the sequence is already paused",
        ("draft", "resume"): "only a paused sequence can be resumed; activate a draft instead",
        ("active", "resume"): "the sequence is active, not paused",
    }
    return reasons.get((status, action), f"cannot {action} a sequence that is {status}")


async def change_status(
    session: AsyncSession, workspace_id: str, sequence_id: str, action: Action
) -> SequenceRecord | None:
    """Apply a status transition; None when there is no such sequence. Raises CatalogError
    (with the reason) when the transition is not allowed. Archiving an archived sequence is
    a no-op."""
    found = await get_sequence(session, workspace_id, sequence_id, lock=True)
    if found is None:
        return None
    problem = transition_problem(found.status, action)
    if problem is not None:
        raise CatalogError(f"cannot {action} sequence {sequence_id}: {problem}")
    target = _TRANSITIONS[action][1]
    if found.status == target:
        return found
    if action == "resume":
        # Paused time does not count against a queued send's deadline: nobody is skipped.
        await session.execute(
            update(sends)
            .where(sends.c.sequence_id == sequence_id, sends.c.status == "queued")
            .values(
                deadline=sends.c.deadline
                + (func.now() - literal(found.updated_at, DateTime(timezone=True)))
            )
        )
    row = (
        await session.execute(
            update(sequences)
            .where(sequences.c.id == sequence_id)
            .values(status=target, updated_at=func.now())
            .returning(*_SEQUENCE_COLUMNS)
        )
    ).one()
    return _sequence(row)


# --------------------------------------------------------------------------- suppressions
@dataclass(frozen=True)
class SuppressionRecord:
    email: str
    reason: SuppressionReason
    detail: str
    created_at: datetime


def _suppression(row: Any) -> SuppressionRecord:
    m = row._mapping
    return SuppressionRecord(
        email=m["email"], reason=m["reason"], detail=m["detail"], created_at=m["created_at"]
    )


_SUPPRESSION_COLUMNS = (
    suppressions.c.email,
    suppressions.c.reason,
    suppressions.c.detail,
    suppressions.c.created_at,
)


def _encode_cursor(record: SuppressionRecord) -> str:
    raw = f"{record.created_at.isoformat()}\x1f{record.email}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, email = raw.split("\x1f", 1)
        parsed = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor(f"cursor {cursor!r} is not one this API handed out") from None
    if parsed.tzinfo is None:
        raise BadCursor(f"cursor {cursor!r} is not one this API handed out")
    return parsed, email


async def list_suppressions(
    session: AsyncSession,
    workspace_id: str,
    *,
    limit: int = 100,
    cursor: str | None = None,
    reason: SuppressionReason | None = None,
) -> tuple[list[SuppressionRecord], str | None]:
    """One page of the suppression list, newest first, and the cursor of the next page
    (None on the last one). Raises BadCursor."""
    query = select(*_SUPPRESSION_COLUMNS).where(suppressions.c.workspace_id == workspace_id)
    if reason is not None:
        query = query.where(suppressions.c.reason == reason)
    if cursor is not None:
        at, email = _decode_cursor(cursor)
        query = query.where(
            tuple_(suppressions.c.created_at, suppressions.c.email) < tuple_(at, email)
        )
    rows = await session.execute(
        query.order_by(suppressions.c.created_at.desc(), suppressions.c.email.desc()).limit(
            limit + 1
        )
    )
    found = [_suppression(r) for r in rows]
    if len(found) > limit:
        return found[:limit], _encode_cursor(found[limit - 1])
    return found, None


async def get_suppression(
    session: AsyncSession, workspace_id: str, email: str
) -> SuppressionRecord | None:
    row = (
        await session.execute(
            select(*_SUPPRESSION_COLUMNS).where(
                suppressions.c.workspace_id == workspace_id,
                suppressions.c.email == email.strip().lower(),
            )
        )
    ).first()
    return _suppression(row) if row else None


async def add_suppression(
    session: AsyncSession,
    workspace_id: str,
    email: str,
    reason: SuppressionReason,
    detail: str = "",
) -> tuple[SuppressionRecord, bool]:
    """Suppress an address (lower-cased); (the entry, True) when it is new. An address
    already suppressed keeps its entry: a manual one is not allowed to hide an unsubscribe
    or a bounce, which say more."""
    email = email.strip().lower()
    row = (
        await session.execute(
            insert(suppressions)
            .values(workspace_id=workspace_id, email=email, reason=reason, detail=detail)
            .on_conflict_do_nothing(index_elements=["workspace_id", "email"])
            .returning(*_SUPPRESSION_COLUMNS)
        )
    ).first()
    if row is not None:
        return _suppression(row), True
    existing = await get_suppression(session, workspace_id, email)
    if existing is None:  # removed between the two statements: try once more
        return await add_suppression(session, workspace_id, email, reason, detail)
    return existing, False


async def remove_suppression(
    session: AsyncSession, workspace_id: str, email: str
) -> SuppressionRecord | None:
    """Remove a manual suppression; None when the address is not suppressed. Raises
    CatalogError for the other reasons (an unsubscribe or a bounce is not undone by hand)."""
    email = email.strip().lower()
    found = (
        await session.execute(
            select(*_SUPPRESSION_COLUMNS)
            .where(suppressions.c.workspace_id == workspace_id, suppressions.c.email == email)
            .with_for_update()
        )
    ).first()
    if found is None:
        return None
    record = _suppression(found)
    if record.reason != "manual":
        raise CatalogError(
            f"{email} is suppressed because of {record.reason!r}: only manual suppressions "
            "can be removed by hand"
        )
    await session.execute(
        suppressions.delete().where(
            suppressions.c.workspace_id == workspace_id, suppressions.c.email == email
        )
    )
    return record


# --------------------------------------------------------------------------- settings
async def config_of(session: AsyncSession, workspace_id: str) -> NurtureConfig:
    """The workspace's nurture settings (the defaults when it never saved any)."""
    stored = await session.scalar(
        select(workspace_settings.c.config).where(workspace_settings.c.workspace_id == workspace_id)
    )
    return NurtureConfig.model_validate(stored) if stored is not None else NurtureConfig()


async def save_config(session: AsyncSession, workspace_id: str, config: NurtureConfig) -> None:
    stmt = insert(workspace_settings).values(
        workspace_id=workspace_id, config=config.model_dump(mode="json")
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[workspace_settings.c.workspace_id],
            set_={"config": stmt.excluded.config, "updated_at": text("now()")},
        )
    )
