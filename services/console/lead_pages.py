"""Leads: the filtered, sorted, paginated list; one lead's score, reasons, stages and
timeline; sales accepting, recycling or disqualifying an MQL."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import ImmutableMultiDict

from services.console.client import Api, ApiError
from services.console.timeline import describe
from services.console.web import api, checked_form, flash, render

router = APIRouter()
Client = Annotated[Api, Depends(api)]
Form = Annotated[ImmutableMultiDict[str, str], Depends(checked_form)]
STAGES = ["subscriber", "lead", "mql", "sql", "opportunity", "customer", "recycled", "disqualified"]
SORTS = {
    "-score": "Score, highest first",
    "score": "Score, lowest first",
    "-updated_at": "Recently updated first",
    "updated_at": "Least recently updated first",
}
PAGE_SIZE = 25
DECISIONS = {"sql": "accepted", "recycled": "recycled", "disqualified": "disqualified"}


FIRST = "~"  # the first page in a trail (cursors are URL-safe base64: never "~" or ".")


def page_links(
    cursor: str, trail: str, next_cursor: str | None
) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """(previous, next) page parameters. Keyset cursors only go forward, so each link
    carries the trail of the cursors of the pages before it."""
    earlier = [c for c in trail.split(".") if c] if trail else []
    previous = None
    if cursor:
        back = earlier[-1] if earlier else FIRST
        previous = {"cursor": "" if back == FIRST else back, "trail": ".".join(earlier[:-1])}
    following = None
    if next_cursor:
        following = {"cursor": next_cursor, "trail": ".".join([*earlier, cursor or FIRST])}
    return previous, following


def list_query(stage: str, min_score: str, email: str, sort: str) -> dict[str, str]:
    """The list's filters as they go in links (empty ones left out)."""
    values = {"stage": stage, "min_score": min_score, "email": email, "sort": sort}
    return {k: v for k, v in values.items() if v}


@router.get("/leads")
async def leads(
    request: Request,
    client: Client,
    stage: str = "",
    min_score: str = "",
    email: str = "",
    sort: str = "-score",
    cursor: str = "",
    trail: str = "",
) -> Response:
    filters = list_query(stage, min_score, email.strip(), sort if sort in SORTS else "-score")
    error = None
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    try:
        page = await client.get("scoring", "/v1/leads", limit=PAGE_SIZE, cursor=cursor, **filters)
    except ApiError as exc:
        if exc.status not in (400, 422):
            raise
        error = exc.message

    def sort_link(key: str) -> str:
        return "/leads?" + urlencode({**filters, "sort": key})

    def link(params: dict[str, str] | None) -> str | None:
        if params is None:
            return None
        return "/leads?" + urlencode({**filters, **{k: v for k, v in params.items() if v}})

    previous, following = page_links(cursor, trail, page.get("next_cursor"))
    return render(
        request,
        "leads.html",
        leads=page["items"],
        filters=filters,
        stages=STAGES,
        sorts=SORTS,
        sort=filters.get("sort", "-score"),
        sort_link=sort_link,
        next_link=link(following),
        previous_link=link(previous),
        first_link=("/leads?" + urlencode(filters)) if trail else None,
        error=error,
    )


@router.get("/leads/{lead_id}")
async def lead(request: Request, client: Client, lead_id: str) -> Response:
    found, timeline, enrollments, sequences = await asyncio.gather(
        client.get("scoring", f"/v1/leads/{lead_id}"),
        client.get("scoring", f"/v1/leads/{lead_id}/timeline", limit=200),
        client.get("nurture", "/v1/enrollments", lead_id=lead_id),
        client.get("nurture", "/v1/sequences"),
    )
    names = {s["id"]: s["name"] for s in sequences}
    email = next((i["value"] for i in found["identities"] if i["kind"] == "email"), None)
    return render(
        request,
        "lead.html",
        lead=found,
        email=email,
        timeline=[{**item, "text": describe(item)} for item in timeline],
        enrollments=[
            {**e, "name": names.get(e["sequence_id"], e["sequence_id"])} for e in enrollments
        ],
    )


@router.post("/leads/{lead_id}/lifecycle")
async def move(request: Request, form: Form, client: Client, lead_id: str) -> Response:
    stage = form.get("stage", "")
    reason = (form.get("reason") or "").strip()
    if stage not in DECISIONS:
        flash(request, f"Unknown decision {stage!r}.", "error")
    elif stage != "sql" and not reason:
        flash(request, "Give a reason to recycle or disqualify a lead.", "error")
    else:
        try:
            await client.call(
                "scoring",
                "POST",
                f"/v1/leads/{lead_id}/lifecycle",
                json={"stage": stage, "reason": reason or "accepted by sales"},
            )
            flash(request, f"Lead {DECISIONS[stage]}.")
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            flash(request, f"Not done: {exc.message}", "error")
    return RedirectResponse(f"/leads/{lead_id}", 303)
