"""Settings: scoring thresholds and stalled-lead timers (scoring), send window, caps and
sender (nurture), the suppression list (nurture), allowed origins and key rotation (ingest).

Both configuration APIs replace the whole document (PUT), so each form changes the fields it
shows on the document as read, and sends all of it back."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import ImmutableMultiDict

from services.console.client import Api, ApiError, Service
from services.console.sequence_form import number
from services.console.validation import field_errors
from services.console.web import FORM_AGAIN, api, checked_form, flash, render

router = APIRouter()
Client = Annotated[Api, Depends(api)]
Form = Annotated[ImmutableMultiDict[str, str], Depends(checked_form)]
TIMED_STAGES = ["lead", "mql", "sql", "opportunity", "customer"]
DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def scoring_from_form(config: dict[str, Any], form: ImmutableMultiDict[str, str]) -> dict[str, Any]:
    """The scoring config with the settings page's fields applied."""
    out = dict(config)
    out["thresholds"] = {
        **config.get("thresholds", {}),
        "mql_score": number(form.get("thresholds.mql_score")),
        "mql_fit": number(form.get("thresholds.mql_fit")),
        "mql_requires_identity": "thresholds.mql_requires_identity" in form,
    }
    out["mql_sla_hours"] = number(form.get("mql_sla_hours"))
    out["engagement_half_life_days"] = number(form.get("engagement_half_life_days"))
    out["stage_max_days"] = {
        stage: number(form.get(f"stage_max_days.{stage}"))
        for stage in TIMED_STAGES
        if number(form.get(f"stage_max_days.{stage}")) is not None
    }
    return out


def nurture_from_form(config: dict[str, Any], form: ImmutableMultiDict[str, str]) -> dict[str, Any]:
    """The nurture config with the settings page's fields applied; cap rows left blank are
    dropped (that is how a cap is removed)."""
    out = dict(config)
    out["timezone"] = (form.get("timezone") or "").strip()
    out["send_window"] = {
        "start": form.get("send_window.start", ""),
        "end": form.get("send_window.end", ""),
        "days": [number(d) for d in form.getlist("send_window.days")],
    }
    caps = []
    for i in range(int(form.get("caps.count", "0") or 0) + 1):
        limit, per = form.get(f"caps.{i}.max", ""), form.get(f"caps.{i}.per", "")
        if limit.strip() or per.strip():
            caps.append({"max": number(limit), "per": per.strip()})
    out["caps"] = caps
    out["rate_per_minute"] = number(form.get("rate_per_minute"))
    out["from_name"] = form.get("from_name", "")
    out["from_address"] = (form.get("from_address") or "").strip()
    return out


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


def origins_from_text(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


async def _page(
    request: Request,
    client: Client,
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
        timed_stages=TIMED_STAGES,
        day_names=DAY_NAMES,
    )


@router.get("/settings")
async def settings(request: Request, client: Client) -> Response:
    return await _page(request, client)


@router.post("/settings/scoring")
async def save_scoring(request: Request, form: Form, client: Client) -> Response:
    config = scoring_from_form(await client.get("scoring", "/v1/scoring/config"), form)
    try:
        await client.call("scoring", "PUT", "/v1/scoring/config", json=config)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors, general = field_errors(exc.detail)
        if general:
            errors["scoring"] = general
        return await _page(request, client, status_code=FORM_AGAIN, errors=errors, scoring=config)
    flash(request, "Scoring settings saved.")
    return RedirectResponse("/settings#scoring", 303)


@router.post("/settings/nurture")
async def save_nurture(request: Request, form: Form, client: Client) -> Response:
    config = nurture_from_form(await client.get("nurture", "/v1/nurture/config"), form)
    try:
        await client.call("nurture", "PUT", "/v1/nurture/config", json=config)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors, general = field_errors(exc.detail)
        if general:
            errors["nurture"] = general
        return await _page(request, client, status_code=FORM_AGAIN, errors=errors, nurture=config)
    flash(request, "Sending settings saved.")
    return RedirectResponse("/settings#sending", 303)


@router.post("/settings/suppressions")
async def suppress(request: Request, form: Form, client: Client) -> Response:
    body = {"email": form.get("email", ""), "detail": form.get("detail", "")}
    try:
        await client.call("nurture", "POST", "/v1/suppressions", json=body)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors, general = field_errors(exc.detail)
        return await _page(
            request,
            client,
            status_code=FORM_AGAIN,
            errors={"suppression." + k: v for k, v in errors.items()} | {"suppression": general},
        )
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
    try:
        await client.call(
            "ingest",
            "PUT",
            "/v1/workspace/allowed-origins",
            json={"allowed_origins": origins_from_text(text)},
        )
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors, general = field_errors(exc.detail)
        messages = [m for ms in errors.values() for m in ms] + general
        return await _page(
            request,
            client,
            status_code=FORM_AGAIN,
            errors={"allowed_origins": messages},
            origins_text=text,
        )
    flash(request, "Allowed origins saved.")
    return RedirectResponse("/settings#keys", 303)


@router.post("/settings/keys/{kind}")
async def rotate_key(request: Request, form: Form, client: Client, kind: str) -> Response:
    if kind not in ("write", "api"):
        raise HTTPException(404, f"no key kind {kind!r}")
    rotated = await client.call("ingest", "POST", f"/v1/workspace/keys/{kind}/rotate")
    if kind == "api":
        # The old key is revoked: this session goes on with the new one, once every service
        # has heard of it (through Kafka, within seconds), so the next page does not fail.
        request.session["api_key"] = rotated["key"]
        await accepted_everywhere(Api(client.http, client.settings, rotated["key"]))
    return render(request, "key_rotated.html", kind=kind, key=rotated["key"])
