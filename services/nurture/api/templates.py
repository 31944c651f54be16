"""Templates (secret API key): create, list, read, replace, archive; previews and test sends."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.adapters.mailer import Mailer
from services.nurture.api.deps import Settings
from services.nurture.api.schemas import (
    DraftPreviewIn,
    PreviewIn,
    PreviewOut,
    TemplateIn,
    TemplateOut,
    TemplateProblem,
    TestSendIn,
)
from services.nurture.domain import templating
from services.nurture.domain.catalog import CatalogError
from services.nurture.domain.emails import render_preview
from services.nurture.domain.message import compose
from services.nurture.domain.templating import TemplateParts
from services.nurture.store import config as config_store
from services.nurture.store import templates as store
from services.nurture.store.leads import lead_facts
from shared.deps import Session, Uow, Workspace
from shared.events import utcnow

router = APIRouter(prefix="/v1", tags=["templates"])


def not_found(kind: str, ident: str) -> HTTPException:
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


def _parts(body: TemplateIn) -> TemplateParts:
    return TemplateParts(subject=body.subject, html=body.html, text=body.text)


@router.post("/templates", status_code=201, summary="Create a template")
async def create_template(uow: Uow, workspace: Workspace, body: TemplateIn) -> TemplateOut:
    parts = _parts(body)
    _template_problems(parts)
    record = await store.create_template(uow.session, workspace.id, body.name, parts)
    return TemplateOut.model_validate(record)


@router.get("/templates", summary="Templates, most recently changed first")
async def list_templates(
    session: Session, workspace: Workspace, include_archived: bool = False
) -> list[TemplateOut]:
    found = await store.list_templates(session, workspace.id, include_archived=include_archived)
    return [TemplateOut.model_validate(t) for t in found]


# Declared before any /templates/{template_id} route so that "preview" is never taken for
# a template id.
@router.post(
    "/templates/preview",
    summary="Render an unsaved template (its parts) for a lead (or for given facts)",
    responses={422: {"description": "the template's problems: {'problems': [...]}"}},
)
async def preview_draft(session: Session, workspace: Workspace, body: DraftPreviewIn) -> PreviewOut:
    """The same sandbox and context as a real send, with ``#unsubscribe-preview`` and
    ``#preferences-preview`` as links and the workspace's name as ``workspace``. A
    template with problems answers 422 ``{"detail": {"problems": [{part, line, message}]}}``."""
    parts = body.parts()
    problems = [
        TemplateProblem(part=p.part, line=p.line, message=p.message)
        for p in templating.validate(parts)
    ]
    if problems:
        raise HTTPException(422, {"problems": [p.model_dump() for p in problems]})
    facts = await _facts(session, workspace.id, body)
    try:
        rendered = render_preview(parts, facts, workspace=workspace.name, now=utcnow())
    except templating.RenderError as exc:
        problem = TemplateProblem(part=exc.part, line=exc.line, message=exc.message)
        raise HTTPException(422, {"problems": [problem.model_dump()]}) from None
    return PreviewOut(subject=rendered.subject, html=rendered.html, text=rendered.text)


@router.get("/templates/{template_id}", summary="A template")
async def get_template(session: Session, workspace: Workspace, template_id: str) -> TemplateOut:
    record = await store.get_template(session, workspace.id, template_id)
    if record is None:
        raise not_found("template", template_id)
    return TemplateOut.model_validate(record)


@router.put("/templates/{template_id}", summary="Replace a template")
async def replace_template(
    uow: Uow, workspace: Workspace, template_id: str, body: TemplateIn
) -> TemplateOut:
    parts = _parts(body)
    _template_problems(parts)
    try:
        record = await store.replace_template(
            uow.session, workspace.id, template_id, body.name, parts
        )
    except CatalogError as exc:
        raise HTTPException(409, str(exc)) from None
    if record is None:
        raise not_found("template", template_id)
    return TemplateOut.model_validate(record)


@router.delete(
    "/templates/{template_id}",
    status_code=204,
    summary="Archive a template (sequence versions that used it keep it)",
)
async def archive_template(uow: Uow, workspace: Workspace, template_id: str) -> None:
    try:
        found = await store.archive_template(uow.session, workspace.id, template_id)
    except CatalogError as exc:
        raise HTTPException(409, str(exc)) from None
    if not found:
        raise not_found("template", template_id)


@router.post(
    "/templates/{template_id}/preview", summary="Render a template for a lead (or for given facts)"
)
async def preview_template(
    session: Session,
    settings: Settings,
    workspace: Workspace,
    template_id: str,
    body: Annotated[PreviewIn, Body()],
) -> PreviewOut:
    rendered = await _render_saved(session, settings, workspace, template_id, body)
    return PreviewOut(subject=rendered.subject, html=rendered.html, text=rendered.text)


@router.post(
    "/templates/{template_id}/test-send",
    summary="Send the template, rendered for a lead (or given facts), to an address you give",
)
async def test_send(
    session: Session, settings: Settings, workspace: Workspace, template_id: str, body: TestSendIn
) -> dict[str, Any]:
    rendered = await _render_saved(session, settings, workspace, template_id, body)
    config = await config_store.config_of(session, workspace.id)
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


async def _facts(
    session: AsyncSession, workspace_id: str, body: PreviewIn | DraftPreviewIn
) -> dict[str, Any]:
    """The preview's lead: a lead nurture knows (404 if not), the facts given, or nobody."""
    if body.lead_id is None:
        return dict(body.lead or {})
    found = await lead_facts(session, workspace_id, body.lead_id)
    if found is None:
        raise not_found("lead", body.lead_id)
    return found


async def _render_saved(
    session: AsyncSession,
    settings: Settings,
    workspace: Workspace,
    template_id: str,
    body: PreviewIn,
) -> templating.Rendered:
    record = await store.get_template(session, workspace.id, template_id)
    if record is None:
        raise not_found("template", template_id)
    facts = await _facts(session, workspace.id, body)
    public_url = str(settings.public_url).rstrip("/")
    try:
        return render_preview(
            record.parts,
            facts,
            workspace=workspace.name,
            now=utcnow(),
            unsubscribe_url=f"{public_url}/unsubscribe/preview",
            preferences_url=f"{public_url}/preferences/preview",
        )
    except templating.RenderError as exc:
        problem = TemplateProblem(part=exc.part, line=exc.line, message=exc.message)
        raise HTTPException(422, [_problem(problem)]) from None
