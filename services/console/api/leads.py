"""Leads: the filtered, sorted, paginated list; one lead's score, reasons, stages and
timeline; sales accepting, recycling or disqualifying an MQL."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console.adapters.client import ApiError
from services.console.api.deps import Client, Form
from services.console.api.web import flash, render
from services.console.domain import leads as rules

router = APIRouter()


def _links(filters: dict[str, str], cursor: str, trail: str, next_cursor: str | None) -> Any:
    """The list's links: by sort, to the previous, next and first pages."""

    def link(params: dict[str, str] | None) -> str | None:
        if params is None:
            return None
        return "/leads?" + urlencode({**filters, **{k: v for k, v in params.items() if v}})

    previous, following = rules.page_links(cursor, trail, next_cursor)
    return {
        "sort_link": lambda key: "/leads?" + urlencode({**filters, "sort": key}),
        "next_link": link(following),
        "previous_link": link(previous),
        "first_link": ("/leads?" + urlencode(filters)) if trail else None,
    }


@router.get("/leads")
async def leads(
    request: Request,
    client: Client,
    stage: str = "",
    min_score: str = "",
    email: str = "",
    sort: str = rules.DEFAULT_SORT,
    cursor: str = "",
    trail: str = "",
) -> Response:
    filters = rules.list_query(stage, min_score, email, sort)
    error = None
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    try:
        page = await client.get(
            "scoring", "/v1/leads", limit=rules.PAGE_SIZE, cursor=cursor, **filters
        )
    except ApiError as exc:
        if exc.status not in (400, 422):
            raise
        error = exc.message
    return render(
        request,
        "leads.html",
        leads=page["items"],
        filters=filters,
        stages=rules.LIST_STAGES,
        sorts=rules.SORTS,
        sort=filters.get("sort", rules.DEFAULT_SORT),
        error=error,
        **_links(filters, cursor, trail, page.get("next_cursor")),
    )


@router.get("/leads/{lead_id}")
async def lead(request: Request, client: Client, lead_id: str) -> Response:
    found, timeline, enrollments, sequences = await asyncio.gather(
        client.get("scoring", f"/v1/leads/{lead_id}"),
        client.get("scoring", f"/v1/leads/{lead_id}/timeline", limit=200),
        client.get("nurture", "/v1/enrollments", lead_id=lead_id),
        client.get("nurture", "/v1/sequences"),
    )
    return render(
        request,
        "lead.html",
        lead=found,
        email=rules.primary_email(found),
        timeline=rules.worded_timeline(timeline),
        enrollments=rules.named_enrollments(enrollments, sequences),
    )


@router.post("/leads/{lead_id}/lifecycle")
async def move(request: Request, form: Form, client: Client, lead_id: str) -> Response:
    decision = rules.decision(form.get("stage", ""), form.get("reason") or "")
    if decision.problem:
        flash(request, decision.problem, "error")
        return RedirectResponse(f"/leads/{lead_id}", 303)
    try:
        path = f"/v1/leads/{lead_id}/lifecycle"
        await client.call("scoring", "POST", path, json=decision.body)
        flash(request, decision.done)
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        flash(request, f"Not done: {exc.message}", "error")
    return RedirectResponse(f"/leads/{lead_id}", 303)
