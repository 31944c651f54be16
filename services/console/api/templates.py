"""Nurture email templates: list, editor, and a live preview rendered for a chosen lead.

The preview renders the draft being typed (not yet saved) through nurture's API (POST
/v1/templates/preview: nurture's own sandbox and context), for the lead's facts as scoring
knows them. It is served as a page of its own with a strict sandboxing CSP, shown in an
iframe: the email's HTML never runs in the console's origin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.adapters.client import Api, ApiError
from services.console.api.deps import Client, Form
from services.console.api.web import FORM_AGAIN, flash, render
from services.console.domain import templates as rules

router = APIRouter()


async def _page(
    request: Request,
    client: Api,
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
        leads=rules.lead_choices(leads["items"]),
        errors=errors or {},
        general=general or [],
    )


@router.get("/templates")
async def templates(request: Request, client: Client) -> Response:
    found = await client.get("nurture", "/v1/templates")
    return render(request, "templates.html", templates=found)


@router.get("/templates/new")
async def new_template(request: Request, client: Client) -> Response:
    return await _page(request, client, None, dict(rules.BLANK))


@router.get("/templates/{template_id}")
async def edit_template(request: Request, client: Client, template_id: str) -> Response:
    found = await client.get("nurture", f"/v1/templates/{template_id}")
    return await _page(request, client, found, found)


async def _store(client: Api, template_id: str | None, values: dict[str, str]) -> Any:
    if template_id is None:
        return await client.call("nurture", "POST", "/v1/templates", json=values)
    return await client.call("nurture", "PUT", f"/v1/templates/{template_id}", json=values)


async def _save(
    request: Request, client: Api, values: dict[str, str], template_id: str | None
) -> Response:
    try:
        saved = await _store(client, template_id, values)
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        errors, general = rules.template_errors(exc.detail)
        template = (
            await client.get("nurture", f"/v1/templates/{template_id}") if template_id else None
        )
        general = general or ["Some fields need attention: see the messages below."]
        return await _page(request, client, template, values, errors, general, FORM_AGAIN)
    flash(request, "Template created." if template_id is None else "Template saved.")
    return RedirectResponse(f"/templates/{saved['id']}", 303)


@router.post("/templates/new")
async def create_template(request: Request, form: Form, client: Client) -> Response:
    return await _save(request, client, rules.values(form), None)


@router.post("/templates/preview")
async def preview(request: Request, form: Form, client: Client) -> Response:
    """The draft in the form, rendered by nurture for the chosen lead (an unknown person if
    none); the template's problems instead when it has some."""
    lead_id = form.get("preview_lead", "")
    lead = await client.get("scoring", f"/v1/leads/{lead_id}") if lead_id else None
    try:
        rendered = await client.preview_template(rules.preview_request(rules.values(form), lead))
        body = rules.rendered_body(rendered)
    except ApiError as exc:
        if exc.status != 422:
            raise
        body = rules.problems_body(rules.preview_problems(exc.detail))
    return HTMLResponse(
        rules.preview_page(body), headers={"Content-Security-Policy": rules.PREVIEW_CSP}
    )


@router.post("/templates/{template_id}")
async def update_template(
    request: Request, form: Form, client: Client, template_id: str
) -> Response:
    return await _save(request, client, rules.values(form), template_id)
