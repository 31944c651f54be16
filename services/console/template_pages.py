"""Nurture email templates: list, editor, and a live preview rendered for a chosen lead.

The preview renders the draft being typed (not yet saved) with nurture's own templating
module, the same sandbox and context nurture sends with, for the lead's facts as scoring
knows them. It is served as a page of its own with a strict sandboxing CSP, shown in an
iframe: the email's HTML never runs in the console's origin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape
from starlette.datastructures import ImmutableMultiDict

from services.console.client import Api, ApiError
from services.console.validation import field_errors
from services.console.web import FORM_AGAIN, api, checked_form, flash, render
from services.nurture.domain import templating
from shared.events import utcnow

router = APIRouter()
Client = Annotated[Api, Depends(api)]
Form = Annotated[ImmutableMultiDict[str, str], Depends(checked_form)]
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data: http: https:; sandbox"
BLANK = {
    "name": "",
    "subject": "Hello {{ lead.first_name | default('there') }}",
    "html": "<p>Hi {{ lead.first_name | default('there') }},</p>\n<p>…</p>\n"
    '<p><a data-leadflow="unsubscribe" href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    "text": "Hi {{ lead.first_name | default('there') }},\n…\nUnsubscribe: {{ unsubscribe_url }}",
}


def template_errors(detail: Any) -> tuple[dict[str, list[str]], list[str]]:
    """Nurture's 422 for templates lists {part, line, message}; a bad name comes as
    pydantic's usual problems."""
    if isinstance(detail, list) and detail and isinstance(detail[0], dict) and "part" in detail[0]:
        errors: dict[str, list[str]] = {}
        for p in detail:
            where = f"line {p['line']}: " if p.get("line") else ""
            errors.setdefault(str(p["part"]), []).append(where + str(p["message"]))
        return errors, []
    return field_errors(detail)


def lead_facts(lead: dict[str, Any]) -> dict[str, Any]:
    """A scoring lead shaped like a lead event's payload (what templating.lead_context reads)."""
    email = next((i["value"] for i in lead.get("identities", []) if i["kind"] == "email"), None)
    return {
        "lead_id": lead["id"],
        "email": email,
        "traits": lead.get("traits") or {},
        "score": lead.get("score"),
        "fit": lead.get("fit"),
        "engagement": lead.get("engagement"),
        "stage": lead.get("stage"),
    }


async def _page(
    request: Request,
    client: Client,
    template: dict[str, Any] | None,
    values: dict[str, str],
    errors: dict[str, list[str]] | None = None,
    general: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    leads = await client.get("scoring", "/v1/leads", limit=20, sort="-score")
    return render(
        request,
        "template.html",
        status_code=status_code,
        template=template,
        v=values,
        leads=[
            {"id": lead["id"], "label": lead["traits"].get("email") or lead["id"]}
            for lead in leads["items"]
        ],
        errors=errors or {},
        general=general or [],
    )


@router.get("/templates")
async def templates(request: Request, client: Client) -> Response:
    found = await client.get("nurture", "/v1/templates")
    return render(request, "templates.html", templates=found)


@router.get("/templates/new")
async def new_template(request: Request, client: Client) -> Response:
    return await _page(request, client, None, dict(BLANK))


@router.get("/templates/{template_id}")
async def edit_template(request: Request, client: Client, template_id: str) -> Response:
    found = await client.get("nurture", f"/v1/templates/{template_id}")
    return await _page(request, client, found, found)


def _values(form: ImmutableMultiDict[str, str]) -> dict[str, str]:
    return {k: form.get(k, "") for k in ("name", "subject", "html", "text")}


async def _save(
    request: Request, client: Client, form: ImmutableMultiDict[str, str], template_id: str | None
) -> Response:
    values = _values(form)
    try:
        if template_id is None:
            saved = await client.call("nurture", "POST", "/v1/templates", json=values)
            flash(request, "Template created.")
        else:
            saved = await client.call("nurture", "PUT", f"/v1/templates/{template_id}", json=values)
            flash(request, "Template saved.")
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        errors, general = template_errors(exc.detail)
        template = (
            await client.get("nurture", f"/v1/templates/{template_id}") if template_id else None
        )
        return await _page(
            request,
            client,
            template,
            values,
            errors,
            general or ["Some fields need attention: see the messages below."],
            FORM_AGAIN,
        )
    return RedirectResponse(f"/templates/{saved['id']}", 303)


@router.post("/templates/new")
async def create_template(request: Request, form: Form, client: Client) -> Response:
    return await _save(request, client, form, None)


@router.post("/templates/preview")
async def preview(request: Request, form: Form, client: Client) -> Response:
    """The draft in the form, rendered for the chosen lead (an unknown person if none)."""
    values = _values(form)
    lead_id = form.get("preview_lead", "")
    facts: dict[str, Any] = {}
    if lead_id:
        facts = lead_facts(await client.get("scoring", f"/v1/leads/{lead_id}"))
    parts = templating.TemplateParts.model_construct(
        subject=values["subject"], html=values["html"], text=values["text"]
    )
    problems = templating.validate(parts)
    body: str
    if problems:
        items = "".join(
            f"<li>{p.part}{f' line {p.line}' if p.line else ''}: {escape(p.message)}</li>"
            for p in problems
        )
        body = f"<p><strong>The template has problems:</strong></p><ul>{items}</ul>"
    else:
        context = {
            **templating.lead_context(facts),
            "workspace": request.session.get("workspace_name", ""),
            "unsubscribe_url": "#unsubscribe-preview",
            "preferences_url": "#preferences-preview",
            "now": utcnow(),
        }
        try:
            rendered = templating.render(parts, context)
            body = (
                '<div style="display:block;font:14px sans-serif;border-bottom:1px solid #ccc;'
                f'padding:4px 0 8px;margin-bottom:8px"><strong>Subject:</strong> '
                f"{escape(rendered.subject)}</div>"
                + (rendered.html or f"<pre>{escape(rendered.text)}</pre>")
            )
        except templating.RenderError as exc:
            body = f"<p><strong>{exc.part}</strong>: {escape(exc.message)}</p>"
    page = f'<!doctype html><html lang="en"><meta charset="utf-8"><title>Preview</title>{body}'
    return HTMLResponse(page, headers={"Content-Security-Policy": PREVIEW_CSP})


@router.post("/templates/{template_id}")
async def update_template(
    request: Request, form: Form, client: Client, template_id: str
) -> Response:
    return await _save(request, client, form, template_id)
