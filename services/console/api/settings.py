"""Settings: scoring thresholds and stalled-lead timers (scoring), send window, caps and
sender (nurture), the suppression list (nurture), allowed origins and key rotation (ingest).

Both configuration APIs replace the whole document (PUT): each form's fields are applied to
the document as read (domain/settings_form.py), and all of it is sent back."""

from __future__ import annotations

import asyncio
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from services.console.adapters.client import Api, ApiError, Service
from services.console.api.deps import Client, Form
from services.console.api.web import FORM_AGAIN, flash, render
from services.console.domain import settings_form as rules
from services.console.domain.validation import field_errors

router = APIRouter()

PROBE_DAY = {"start": "2026-01-01", "end": "2026-01-01"}  # any day: the answer is not used
KEY_PROBES: tuple[tuple[Service, str, dict[str, str]], ...] = (
    ("ingest", "/v1/workspace", {}),
    ("scoring", "/v1/scoring/config", {}),
    ("nurture", "/v1/nurture/config", {}),
    ("reporting", "/v1/velocity", PROBE_DAY),
)


async def accepted_everywhere(client: Api, within: float = 15.0) -> bool:
    """Wait until the services take the client's key (False if they still do not in time)."""
    deadline = asyncio.get_running_loop().time() + within
    for service, path, params in KEY_PROBES:
        while True:
            try:
                await client.get(service, path, **params)
                break
            except ApiError as exc:
                if exc.status != 401 or asyncio.get_running_loop().time() > deadline:
                    return False
                await asyncio.sleep(0.2)
    return True


async def _page(
    request: Request,
    client: Api,
    *,
    status_code: int = 200,
    errors: dict[str, list[str]] | None = None,
    scoring: dict[str, Any] | None = None,
    nurture: dict[str, Any] | None = None,
    origins_text: str | None = None,
) -> Response:
    got_scoring, got_nurture, suppressions, workspace = await asyncio.gather(
        client.get("scoring", "/v1/scoring/config"),
        client.get("nurture", "/v1/nurture/config"),
        client.get("nurture", "/v1/suppressions", limit=200),
        client.get("ingest", "/v1/workspace"),
    )
    return render(
        request,
        "settings.html",
        status_code=status_code,
        scoring=scoring or got_scoring,
        nurture=nurture or got_nurture,
        suppressions=suppressions["items"],
        workspace=workspace,
        origins_text=(
            origins_text if origins_text is not None else "\n".join(workspace["allowed_origins"])
        ),
        errors=errors or {},
        timed_stages=rules.TIMED_STAGES,
        day_names=rules.DAY_NAMES,
    )


@router.get("/settings")
async def settings(request: Request, client: Client) -> Response:
    return await _page(request, client)


async def _save_config(
    request: Request,
    client: Client,
    form: Form,
    service: Literal["scoring", "nurture"],
    section: str,
) -> Response:
    """PUT the service's configuration as the form changed it; its 422 shown on the form."""
    from_form = rules.scoring_from_form if service == "scoring" else rules.nurture_from_form
    path = f"/v1/{service}/config"
    config = from_form(await client.get(service, path), form)
    try:
        await client.call(service, "PUT", path, json=config)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors, general = field_errors(exc.detail)
        if general:
            errors[service] = general
        shown: dict[str, Any] = {service: config}
        return await _page(request, client, status_code=FORM_AGAIN, errors=errors, **shown)
    flash(request, f"{section.capitalize()} settings saved.")
    return RedirectResponse(f"/settings#{section}", 303)


@router.post("/settings/scoring")
async def save_scoring(request: Request, form: Form, client: Client) -> Response:
    return await _save_config(request, client, form, "scoring", "scoring")


@router.post("/settings/nurture")
async def save_nurture(request: Request, form: Form, client: Client) -> Response:
    return await _save_config(request, client, form, "nurture", "sending")


@router.post("/settings/suppressions")
async def suppress(request: Request, form: Form, client: Client) -> Response:
    body = {"email": form.get("email", ""), "detail": form.get("detail", "")}
    try:
        await client.call("nurture", "POST", "/v1/suppressions", json=body)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors = rules.suppression_errors(*field_errors(exc.detail))
        return await _page(request, client, status_code=FORM_AGAIN, errors=errors)
    flash(request, f"{body['email'].strip().lower()} will get no more email.")
    return RedirectResponse("/settings#suppressions", 303)


@router.post("/settings/suppressions/remove")
async def unsuppress(request: Request, form: Form, client: Client) -> Response:
    email = form.get("email", "")
    try:
        await client.call("nurture", "DELETE", f"/v1/suppressions/{quote(email, safe='')}")
        flash(request, f"{email} removed from the suppression list.")
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise
        flash(request, f"Not removed: {exc.message}", "error")
    return RedirectResponse("/settings#suppressions", 303)


@router.post("/settings/origins")
async def save_origins(request: Request, form: Form, client: Client) -> Response:
    text = form.get("allowed_origins", "")
    body = {"allowed_origins": rules.origins_from_text(text)}
    try:
        await client.call("ingest", "PUT", "/v1/workspace/allowed-origins", json=body)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors = {"allowed_origins": rules.all_messages(*field_errors(exc.detail))}
        return await _page(
            request, client, status_code=FORM_AGAIN, errors=errors, origins_text=text
        )
    flash(request, "Allowed origins saved.")
    return RedirectResponse("/settings#keys", 303)


@router.post("/settings/keys/{kind}")
async def rotate_key(request: Request, form: Form, client: Client, kind: str) -> Response:
    if kind not in rules.KEY_KINDS:
        raise HTTPException(404, f"no key kind {kind!r}")
    rotated = await client.call("ingest", "POST", f"/v1/workspace/keys/{kind}/rotate")
    if kind == "api":
        # The old key is revoked: this session goes on with the new one, once every service
        # has heard of it (through Kafka, within seconds), so the next page does not fail.
        request.session["api_key"] = rotated["key"]
        await accepted_everywhere(client.with_key(rotated["key"]))
    return render(request, "key_rotated.html", kind=kind, key=rotated["key"])
