"""HTTP routes of the nurture service (secret API key): templates, sequences and their
versions, suppressions, settings. Thin: the work is in catalog.py, templating.py and
sequences.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture import catalog, models, results, templating
from services.nurture.catalog import Action, Status, SuppressionReason
from services.nurture.config import Address, NurtureConfig
from services.nurture.mailer import Mailer, compose
from services.nurture.sequences import SequenceDefinition
from services.nurture.templating import TemplateParts
from shared.auth import api_workspace
from shared.db import audit
from shared.events import utcnow
from shared.privacy import identity_hash
from shared.workspaces import WorkspaceInfo

router = APIRouter(prefix="/v1")
Workspace = Annotated[WorkspaceInfo, Depends(api_workspace)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254
    ),
]


# --------------------------------------------------------------------------- models
class TemplateIn(TemplateParts):
    """A template as saved: a name and the three parts (html or text, or both)."""

    name: Name


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    subject: str
    html: str
    text: str
    archived: bool
    created_at: datetime
    updated_at: datetime


class TemplateProblem(BaseModel):
    part: templating.PartName
    line: int | None
    message: str


class PreviewIn(BaseModel):
    """Render for a lead nurture knows (`lead_id`), or for the facts given in `lead` (shaped
    like a lead event's payload: email, traits, score, stage, ...). Neither: an unknown
    person (the templates' defaults show)."""

    model_config = ConfigDict(extra="forbid")

    lead_id: str | None = None
    lead: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> PreviewIn:
        if self.lead_id is not None and self.lead is not None:
            raise ValueError("give lead_id or lead, not both")
        return self


class PreviewOut(BaseModel):
    subject: str
    html: str
    text: str


class SequenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    definition: SequenceDefinition


class SequenceChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    definition: SequenceDefinition | None = Field(
        None, description="a new definition becomes version N+1 (enrollments keep theirs)"
    )


class Counts(BaseModel):
    active: int = Field(description="enrollments in progress")
    completed: int
    exited: int
    sent: int = Field(description="emails sent")


class SequenceSummary(BaseModel):
    id: str
    name: str
    status: Status
    current_version: int
    created_at: datetime
    updated_at: datetime
    counts: Counts


class VersionSummary(BaseModel):
    version: int
    created_at: datetime


class SequenceOut(SequenceSummary):
    definition: dict[str, Any] = Field(description="the current version's definition")
    versions: list[VersionSummary]


class VersionOut(BaseModel):
    sequence_id: str
    version: int
    current: bool
    created_at: datetime
    definition: dict[str, Any]


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    reason: Literal["manual"] = "manual"
    detail: str = Field("", max_length=1000)


class SuppressionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    email: str
    reason: SuppressionReason
    detail: str
    created_at: datetime


class SuppressionPage(BaseModel):
    items: list[SuppressionOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


# --------------------------------------------------------------------------- helpers
def _not_found(kind: str, ident: str) -> HTTPException:
    return HTTPException(404, f"no {kind} {ident} in this workspace")


def _problem(problem: TemplateProblem) -> dict[str, Any]:
    """A template problem in the shape of FastAPI's 422 details (loc, msg, type), which the
    OpenAPI promises for every 422, plus its own part, line and message."""
    return {
        "loc": ["body", problem.part],
        "msg": problem.message,
        "type": "template_error",
        **problem.model_dump(),
    }


def _template_problems(parts: TemplateParts) -> None:
    problems = templating.validate(parts)
    if problems:
        raise HTTPException(
            422,
            [
                _problem(TemplateProblem(part=p.part, line=p.line, message=p.message))
                for p in problems
            ],
        )


def _summary(record: catalog.SequenceRecord, stats: catalog.SequenceStats) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "status": record.status,
        "current_version": record.current_version,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "counts": Counts(
            active=stats.active, completed=stats.completed, exited=stats.exited, sent=stats.sent
        ),
    }


async def _sequence_out(request: Request, workspace_id: str, sequence_id: str) -> SequenceOut:
    async with request.app.state.runtime.sessions() as session:
        record = await catalog.get_sequence(session, workspace_id, sequence_id)
        if record is None:
            raise _not_found("sequence", sequence_id)
        versions = await catalog.list_versions(session, workspace_id, sequence_id)
        stats = await catalog.sequence_stats(session, workspace_id, sequence_id)
    current = next(v for v in versions if v.version == record.current_version)
    return SequenceOut(
        **_summary(record, stats),
        definition=catalog.definition_json(current.definition),
        versions=[VersionSummary(version=v.version, created_at=v.created_at) for v in versions],
    )


async def _check_templates(session: Any, workspace_id: str, definition: SequenceDefinition) -> None:
    unknown = await catalog.unknown_templates(session, workspace_id, definition)
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "unknown_template",
                    "loc": ("body", "definition", *ref.loc),
                    "msg": f"no template {ref.template_id!r} in this workspace (or it is archived)",
                    "input": ref.template_id,
                }
                for ref in unknown
            ]
        )


# --------------------------------------------------------------------------- templates
@router.post("/templates", status_code=201, tags=["templates"], summary="Create a template")
async def create_template(request: Request, workspace: Workspace, body: TemplateIn) -> TemplateOut:
    parts = TemplateParts(subject=body.subject, html=body.html, text=body.text)
    _template_problems(parts)
    async with request.app.state.runtime.sessions() as session, session.begin():
        record = await catalog.create_template(session, workspace.id, body.name, parts)
    return TemplateOut.model_validate(record)


@router.get("/templates", tags=["templates"], summary="Templates, most recently changed first")
async def list_templates(
    request: Request, workspace: Workspace, include_archived: bool = False
) -> list[TemplateOut]:
    async with request.app.state.runtime.sessions() as session:
        found = await catalog.list_templates(
            session, workspace.id, include_archived=include_archived
        )
    return [TemplateOut.model_validate(t) for t in found]


@router.get("/templates/{template_id}", tags=["templates"], summary="A template")
async def get_template(request: Request, workspace: Workspace, template_id: str) -> TemplateOut:
    async with request.app.state.runtime.sessions() as session:
        record = await catalog.get_template(session, workspace.id, template_id)
    if record is None:
        raise _not_found("template", template_id)
    return TemplateOut.model_validate(record)


@router.put("/templates/{template_id}", tags=["templates"], summary="Replace a template")
async def replace_template(
    request: Request, workspace: Workspace, template_id: str, body: TemplateIn
) -> TemplateOut:
    parts = TemplateParts(subject=body.subject, html=body.html, text=body.text)
    _template_problems(parts)
    try:
        async with request.app.state.runtime.sessions() as session, session.begin():
            record = await catalog.replace_template(
                session, workspace.id, template_id, body.name, parts
            )
    except catalog.CatalogError as exc:
        raise HTTPException(409, str(exc)) from None
    if record is None:
        raise _not_found("template", template_id)
    return TemplateOut.model_validate(record)


@router.delete(
    "/templates/{template_id}",
    status_code=204,
    tags=["templates"],
    summary="Archive a template (sequence versions that used it keep it)",
)
async def archive_template(request: Request, workspace: Workspace, template_id: str) -> None:
    try:
        async with request.app.state.runtime.sessions() as session, session.begin():
            found = await catalog.archive_template(session, workspace.id, template_id)
    except catalog.CatalogError as exc:
        raise HTTPException(409, str(exc)) from None
    if not found:
        raise _not_found("template", template_id)


@router.post(
    "/templates/{template_id}/preview",
    tags=["templates"],
    summary="Render a template for a lead (or for given facts)",
)
async def preview_template(
    request: Request,
    workspace: Workspace,
    template_id: str,
    body: Annotated[PreviewIn, Body()],
) -> PreviewOut:
    rendered = await _render_for(request, workspace, template_id, body)
    return PreviewOut(subject=rendered.subject, html=rendered.html, text=rendered.text)


class TestSendIn(PreviewIn):
    to: Address


@router.post(
    "/templates/{template_id}/test-send",
    tags=["templates"],
    summary="Send the template, rendered for a lead (or given facts), to an address you give",
)
async def test_send(
    request: Request, workspace: Workspace, template_id: str, body: TestSendIn
) -> dict[str, Any]:
    rendered = await _render_for(request, workspace, template_id, body)
    async with request.app.state.runtime.sessions() as session:
        config = await catalog.config_of(session, workspace.id)
    settings = request.app.state.settings
    public_url = str(settings.public_url).rstrip("/")
    message = compose(
        message_id=f"test-{uuid.uuid4().hex}@leadflow",
        from_address=config.from_address,
        from_name=config.from_name,
        to=body.to,
        subject=f"[Test] {rendered.subject}",
        text=rendered.text,
        html=rendered.html,
        unsubscribe_url=f"{public_url}/unsubscribe/preview",
        unsubscribe_token="test",
        date=utcnow(),
        reply_to=config.reply_to,
    )
    mailer = Mailer.from_settings(settings)
    try:
        outcome = await mailer.send(message)
    finally:
        await mailer.close()
    if outcome.kind == "accepted":
        return {"sent": True, "to": body.to}
    code = 422 if outcome.kind == "permanent" else 503
    raise HTTPException(code, f"the SMTP server did not take it: {outcome.reply}")


async def _render_for(
    request: Request, workspace: WorkspaceInfo, template_id: str, body: PreviewIn
) -> templating.Rendered:
    async with request.app.state.runtime.sessions() as session:
        record = await catalog.get_template(session, workspace.id, template_id)
        if record is None:
            raise _not_found("template", template_id)
        facts: dict[str, Any] = dict(body.lead or {})
        if body.lead_id is not None:
            found = await catalog.lead_facts(session, workspace.id, body.lead_id)
            if found is None:
                raise _not_found("lead", body.lead_id)
            facts = found
    public_url = str(getattr(request.app.state.settings, "public_url", "")).rstrip("/")
    context = {
        **templating.lead_context(facts),
        "workspace": workspace.name,
        "unsubscribe_url": f"{public_url}/unsubscribe/preview",
        "preferences_url": f"{public_url}/preferences/preview",
        "now": utcnow(),
    }
    try:
        return templating.render(record.parts, context)
    except templating.RenderError as exc:
        problem = TemplateProblem(part=exc.part, line=exc.line, message=exc.message)
        raise HTTPException(422, [_problem(problem)]) from None


# --------------------------------------------------------------------------- sequences
@router.post(
    "/sequences", status_code=201, tags=["sequences"], summary="Create a sequence (a draft, v1)"
)
async def create_sequence(request: Request, workspace: Workspace, body: SequenceIn) -> SequenceOut:
    async with request.app.state.runtime.sessions() as session, session.begin():
        await _check_templates(session, workspace.id, body.definition)
        record = await catalog.create_sequence(session, workspace.id, body.name, body.definition)
    return await _sequence_out(request, workspace.id, record.id)


@router.get("/sequences", tags=["sequences"], summary="Sequences with their headline counts")
async def list_sequences(
    request: Request, workspace: Workspace, status: Status | None = None
) -> list[SequenceSummary]:
    async with request.app.state.runtime.sessions() as session:
        found = await catalog.list_sequences(session, workspace.id, status=status)
    return [SequenceSummary(**_summary(record, stats)) for record, stats in found]


@router.get(
    "/sequences/{sequence_id}",
    tags=["sequences"],
    summary="A sequence: current definition, versions, counts",
)
async def get_sequence(request: Request, workspace: Workspace, sequence_id: str) -> SequenceOut:
    return await _sequence_out(request, workspace.id, sequence_id)


@router.put(
    "/sequences/{sequence_id}",
    tags=["sequences"],
    summary="Rename, or save a new definition as the next version",
)
async def update_sequence(
    request: Request, workspace: Workspace, sequence_id: str, body: SequenceChange
) -> SequenceOut:
    try:
        async with request.app.state.runtime.sessions() as session, session.begin():
            if await catalog.get_sequence(session, workspace.id, sequence_id) is None:
                raise _not_found("sequence", sequence_id)
            if body.definition is not None:
                await _check_templates(session, workspace.id, body.definition)
            await catalog.update_sequence(
                session, workspace.id, sequence_id, name=body.name, definition=body.definition
            )
    except catalog.CatalogError as exc:
        raise HTTPException(409, str(exc)) from None
    return await _sequence_out(request, workspace.id, sequence_id)


@router.get(
    "/sequences/{sequence_id}/versions/{version}",
    tags=["sequences"],
    summary="One version of a sequence, as it was saved",
)
async def get_version(
    request: Request,
    workspace: Workspace,
    sequence_id: str,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> VersionOut:
    async with request.app.state.runtime.sessions() as session:
        record = await catalog.get_sequence(session, workspace.id, sequence_id)
        if record is None:
            raise _not_found("sequence", sequence_id)
        found = await catalog.get_version(session, workspace.id, sequence_id, version)
    if found is None:
        raise HTTPException(404, f"sequence {sequence_id} has no version {version}")
    return VersionOut(
        sequence_id=sequence_id,
        version=found.version,
        current=found.version == record.current_version,
        created_at=found.created_at,
        definition=catalog.definition_json(found.definition),
    )


@router.get(
    "/sequences/{sequence_id}/results",
    tags=["sequences"],
    summary="Results per step and A/B variant: sent, opened, clicked, unsubscribed, bounced",
)
async def get_results(request: Request, workspace: Workspace, sequence_id: str) -> dict[str, Any]:
    async with request.app.state.runtime.sessions() as session:
        if await catalog.get_sequence(session, workspace.id, sequence_id) is None:
            raise _not_found("sequence", sequence_id)
        return await results.sequence_results(session, workspace.id, sequence_id)


async def _transition(
    request: Request, workspace: WorkspaceInfo, sequence_id: str, action: Action
) -> SequenceOut:
    try:
        async with request.app.state.runtime.sessions() as session, session.begin():
            record = await catalog.change_status(session, workspace.id, sequence_id, action)
    except catalog.CatalogError as exc:
        raise HTTPException(409, str(exc)) from None
    if record is None:
        raise _not_found("sequence", sequence_id)
    return await _sequence_out(request, workspace.id, sequence_id)


@router.post("/sequences/{sequence_id}/activate", tags=["sequences"], summary="draft -> active")
async def activate_sequence(
    request: Request, workspace: Workspace, sequence_id: str
) -> SequenceOut:
    return await _transition(request, workspace, sequence_id, "activate")


@router.post("/sequences/{sequence_id}/pause", tags=["sequences"], summary="active -> paused")
async def pause_sequence(request: Request, workspace: Workspace, sequence_id: str) -> SequenceOut:
    return await _transition(request, workspace, sequence_id, "pause")


@router.post("/sequences/{sequence_id}/resume", tags=["sequences"], summary="paused -> active")
async def resume_sequence(request: Request, workspace: Workspace, sequence_id: str) -> SequenceOut:
    return await _transition(request, workspace, sequence_id, "resume")


@router.post(
    "/sequences/{sequence_id}/archive", tags=["sequences"], summary="any -> archived (final)"
)
async def archive_sequence(request: Request, workspace: Workspace, sequence_id: str) -> SequenceOut:
    return await _transition(request, workspace, sequence_id, "archive")


# --------------------------------------------------------------------------- suppressions
@router.get("/suppressions", tags=["suppressions"], summary="Suppressed addresses, newest first")
async def list_suppressions(
    request: Request,
    workspace: Workspace,
    reason: SuppressionReason | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> SuppressionPage:
    try:
        async with request.app.state.runtime.sessions() as session:
            items, next_cursor = await catalog.list_suppressions(
                session, workspace.id, limit=limit, cursor=cursor, reason=reason
            )
    except catalog.BadCursor as exc:
        raise HTTPException(400, str(exc)) from None
    return SuppressionPage(
        items=[SuppressionOut.model_validate(i) for i in items], next_cursor=next_cursor
    )


@router.post(
    "/suppressions",
    status_code=201,
    tags=["suppressions"],
    summary="Suppress an address by hand (200 with the existing entry if already suppressed)",
)
async def add_suppression(
    request: Request, workspace: Workspace, body: SuppressionIn, response: Response
) -> SuppressionOut:
    async with request.app.state.runtime.sessions() as session, session.begin():
        record, created = await catalog.add_suppression(
            session, workspace.id, body.email, body.reason, body.detail
        )
        if created:
            await _audit_consent(request, session, workspace.id, "consent.suppressed", body.email)
    if not created:
        response.status_code = 200
    return SuppressionOut.model_validate(record)


@router.delete(
    "/suppressions/{email}",
    status_code=204,
    tags=["suppressions"],
    summary="Remove a manual suppression (unsubscribes and bounces stay)",
)
async def remove_suppression(request: Request, workspace: Workspace, email: str) -> None:
    try:
        async with request.app.state.runtime.sessions() as session, session.begin():
            removed = await catalog.remove_suppression(session, workspace.id, email)
            if removed is not None:
                await _audit_consent(request, session, workspace.id, "consent.restored", email)
    except catalog.CatalogError as exc:
        raise HTTPException(409, str(exc)) from None
    if removed is None:
        raise HTTPException(404, f"{email.strip().lower()} is not suppressed in this workspace")


async def _audit_consent(
    request: Request, session: AsyncSession, workspace_id: str, action: str, email: str
) -> None:
    """The address only as a keyed hash (shared/privacy.py): the log keeps no email."""
    secret = request.app.state.settings.secret_key.get_secret_value()
    subject = identity_hash(secret, workspace_id, "email", email.strip().lower())
    await audit.record(session, models.audit_log, workspace_id, action, "api", email_hash=subject)


# --------------------------------------------------------------------------- settings
@router.get(
    "/nurture/config",
    tags=["configuration"],
    summary="Time zone, send window, caps, rate limit, sender",
)
async def get_config(request: Request, workspace: Workspace) -> NurtureConfig:
    async with request.app.state.runtime.sessions() as session:
        return await catalog.config_of(session, workspace.id)


@router.put("/nurture/config", tags=["configuration"], summary="Replace the nurture settings")
async def put_config(
    request: Request, workspace: Workspace, config: Annotated[NurtureConfig, Body()]
) -> NurtureConfig:
    async with request.app.state.runtime.sessions() as session, session.begin():
        await catalog.save_config(session, workspace.id, config)
    return config
