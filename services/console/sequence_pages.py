"""Nurture sequences: the list with headline figures, the editor, activate/pause/resume."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import ImmutableMultiDict

from services.console import sequence_form
from services.console.client import Api, ApiError
from services.console.validation import field_errors
from services.console.web import FORM_AGAIN, api, checked_form, flash, render

router = APIRouter()
Client = Annotated[Api, Depends(api)]
Form = Annotated[ImmutableMultiDict[str, str], Depends(checked_form)]
ACTIONS = {"activate": "activated", "pause": "paused", "resume": "resumed", "archive": "archived"}
STAGES = ["subscriber", "lead", "mql", "sql", "opportunity", "customer", "recycled", "disqualified"]
EVENT_TYPES = [
    "track",
    "page",
    "screen",
    "identify",
    "group",
    "alias",
    "email.sent",
    "email.opened",
    "email.clicked",
    "email.bounced",
    "email.unsubscribed",
]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """A sequence's figures over all steps and variants: sent, open and click rates, goals."""
    steps = results.get("steps", [])
    sent = sum(int(s["sent"]) for s in steps)
    return {
        **results.get("enrollments", {}),
        "sent": sent,
        "open_rate": _rate(sum(int(s["opened"]) for s in steps), sent),
        "click_rate": _rate(sum(int(s["clicked"]) for s in steps), sent),
    }


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
        stages=STAGES,
        event_types=EVENT_TYPES,
        condition_kind=sequence_form.condition_kind,
        describe=sequence_form.describe_step,
    )


@router.get("/sequences/new")
async def new_sequence(request: Request, client: Client) -> Response:
    templates = await client.get("nurture", "/v1/templates")
    first = templates[0]["id"] if templates else ""
    return await _editor(
        request, client, sequence=None, name="", definition=sequence_form.blank_definition(first)
    )


@router.get("/sequences/{sequence_id}")
async def edit_sequence(request: Request, client: Client, sequence_id: str) -> Response:
    found = await client.get("nurture", f"/v1/sequences/{sequence_id}")
    return await _editor(
        request, client, sequence=found, name=found["name"], definition=found["definition"]
    )


async def _save(
    request: Request, client: Client, form: ImmutableMultiDict[str, str], sequence_id: str | None
) -> Response:
    name, definition = sequence_form.from_form(form)
    sequence = await client.get("nurture", f"/v1/sequences/{sequence_id}") if sequence_id else None
    op = form.get("op", "save")
    if op != "save":
        # An editor action: show the changed form, save nothing.
        templates = await client.get("nurture", "/v1/templates")
        first = templates[0]["id"] if templates else ""
        try:
            changed = sequence_form.apply_op(definition, op, first)
        except sequence_form.BadOp as exc:
            raise HTTPException(400, str(exc)) from None
        focus = f"step-{len(changed['steps']) - 1}" if op.startswith("add:") else None
        return await _editor(
            request, client, sequence=sequence, name=name, definition=changed, focus=focus
        )
    try:
        if sequence_id is None:
            saved = await client.call(
                "nurture", "POST", "/v1/sequences", json={"name": name, "definition": definition}
            )
            flash(request, "Sequence created (a draft: activate it to start enrolling leads).")
        else:
            saved = await client.call(
                "nurture",
                "PUT",
                f"/v1/sequences/{sequence_id}",
                json={"name": name, "definition": definition},
            )
            flash(request, f"Saved as version {saved['current_version']}.")
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
