"""Nurture sequences: the list with headline figures, the editor, activate/pause/resume."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from services.console.adapters.client import ApiError
from services.console.api.deps import Client, Form
from services.console.api.web import FORM_AGAIN, flash, render
from services.console.domain import sequence_form
from services.console.domain.forms import FormValues
from services.console.domain.sequences import (
    ACTIONS,
    EDITOR_STAGES,
    TRIGGER_EVENT_TYPES,
    first_template,
    headline,
)
from services.console.domain.validation import field_errors

router = APIRouter()


@router.get("/sequences")
async def sequences(request: Request, client: Client) -> Response:
    found = await client.get("nurture", "/v1/sequences")
    results = await asyncio.gather(
        *(client.get("nurture", f"/v1/sequences/{s['id']}/results") for s in found)
    )
    rows = [{**s, "figures": headline(r)} for s, r in zip(found, results, strict=True)]
    return render(request, "sequences.html", sequences=rows)


async def _editor(
    request: Request,
    client: Client,
    *,
    sequence: dict[str, Any] | None,
    name: str,
    definition: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    general: list[str] | None = None,
    focus: str | None = None,
    status_code: int = 200,
) -> Response:
    templates = await client.get("nurture", "/v1/templates")
    results = None
    if sequence is not None:
        raw = await client.get("nurture", f"/v1/sequences/{sequence['id']}/results")
        results = {"headline": headline(raw), "steps": raw["steps"]}
    return render(
        request,
        "sequence.html",
        status_code=status_code,
        sequence=sequence,
        name=name,
        d=definition,
        templates=templates,
        errors=errors or {},
        general=general or [],
        focus=focus,
        results=results,
        stages=EDITOR_STAGES,
        event_types=TRIGGER_EVENT_TYPES,
        condition_kind=sequence_form.condition_kind,
        describe=sequence_form.describe_step,
    )


@router.get("/sequences/new")
async def new_sequence(request: Request, client: Client) -> Response:
    first = first_template(await client.get("nurture", "/v1/templates"))
    definition = sequence_form.blank_definition(first)
    return await _editor(request, client, sequence=None, name="", definition=definition)


@router.get("/sequences/{sequence_id}")
async def edit_sequence(request: Request, client: Client, sequence_id: str) -> Response:
    found = await client.get("nurture", f"/v1/sequences/{sequence_id}")
    return await _editor(
        request, client, sequence=found, name=found["name"], definition=found["definition"]
    )


async def _edit(
    request: Request, client: Client, op: str, sequence: dict[str, Any] | None, form: FormValues
) -> Response:
    """An editor action (add, move, split a step...): the changed form again, nothing saved."""
    name, definition = sequence_form.from_form(form)
    first = first_template(await client.get("nurture", "/v1/templates"))
    try:
        changed = sequence_form.apply_op(definition, op, first)
    except sequence_form.BadOp as exc:
        raise HTTPException(400, str(exc)) from None
    focus = sequence_form.focus_after(op, changed)
    return await _editor(
        request, client, sequence=sequence, name=name, definition=changed, focus=focus
    )


async def _store(client: Client, sequence_id: str | None, body: dict[str, Any]) -> Any:
    if sequence_id is None:
        return await client.call("nurture", "POST", "/v1/sequences", json=body)
    return await client.call("nurture", "PUT", f"/v1/sequences/{sequence_id}", json=body)


async def _save(
    request: Request, client: Client, form: FormValues, sequence_id: str | None
) -> Response:
    sequence = await client.get("nurture", f"/v1/sequences/{sequence_id}") if sequence_id else None
    op = form.get("op", "save")
    if op != "save":
        return await _edit(request, client, op, sequence, form)
    name, definition = sequence_form.from_form(form)
    try:
        saved = await _store(client, sequence_id, {"name": name, "definition": definition})
    except ApiError as exc:
        if exc.status not in (409, 422):  # 409: e.g. an archived sequence cannot change
            raise
        errors, general = field_errors(exc.detail)
        return await _editor(
            request,
            client,
            sequence=sequence,
            name=name,
            definition=definition,
            errors=errors,
            general=general or ["Some fields need attention: see the messages below."],
            status_code=FORM_AGAIN,
        )
    if sequence_id is None:
        flash(request, "Sequence created (a draft: activate it to start enrolling leads).")
    else:
        flash(request, f"Saved as version {saved['current_version']}.")
    return RedirectResponse(f"/sequences/{saved['id']}", 303)


@router.post("/sequences/new")
async def create_sequence(request: Request, form: Form, client: Client) -> Response:
    return await _save(request, client, form, None)


@router.post("/sequences/{sequence_id}")
async def update_sequence(
    request: Request, form: Form, client: Client, sequence_id: str
) -> Response:
    return await _save(request, client, form, sequence_id)


@router.post("/sequences/{sequence_id}/{action}")
async def change_status(
    request: Request, form: Form, client: Client, sequence_id: str, action: str
) -> Response:
    if action not in ACTIONS:
        raise HTTPException(404, f"no action {action!r}")
    try:
        await client.call("nurture", "POST", f"/v1/sequences/{sequence_id}/{action}")
        flash(request, f"Sequence {ACTIONS[action]}.")
    except ApiError as exc:
        if exc.status != 409:
            raise
        flash(request, f"Not done: {exc.message}", "error")
    return RedirectResponse(f"/sequences/{sequence_id}", 303)
