"""Email engagement: the open pixel and tracked links, recorded as touchpoints."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from services.ingest.adapters.publishing import Unavailable
from services.ingest.api.deps import IngestState, State
from services.ingest.domain.engagement import CLICKED, OPENED, engagement_event, link_fits
from shared.email_links import EmailLink, InvalidToken, verify
from shared.events import utcnow
from shared.events.codec import Record

router = APIRouter(tags=["email engagement"])
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, private"}


async def _record(
    state: IngestState, request: Request, token: str, kind: str
) -> EmailLink | Response:
    try:
        link = verify(token, state.settings.secret_key.get_secret_value())
    except InvalidToken:
        return Response("unknown link", 404, media_type="text/plain")
    workspace = state.directory.get(link.workspace_id)
    if workspace is None or not link_fits(kind, link):
        return Response("unknown link", 404, media_type="text/plain")
    event = engagement_event(
        kind,
        link,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        ip_truncated=workspace.truncate_ip,
        now=utcnow(),
    )
    try:
        await state.touchpoints.publish([Record.of(event)])
    except Unavailable:
        return Response(
            "try again later", 503, headers={"Retry-After": str(state.settings.retry_after_seconds)}
        )
    return link


@router.get(
    "/t/o/{token}",
    summary="Email open pixel (a 1x1 GIF)",
    response_class=Response,
    responses={
        200: {"content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}},
        404: {"description": "unknown or tampered link", "content": {"text/plain": {}}},
    },
)
async def opened(request: Request, state: State, token: str) -> Response:
    result = await _record(state, request, token, OPENED)
    if isinstance(result, Response):
        return result
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get(
    "/t/c/{token}",
    summary="Tracked link: records the click, then redirects",
    response_class=Response,
    responses={
        302: {"description": "to the link's address"},
        404: {"description": "unknown or tampered link", "content": {"text/plain": {}}},
    },
)
async def clicked(request: Request, state: State, token: str) -> Response:
    result = await _record(state, request, token, CLICKED)
    if isinstance(result, Response):
        return result
    assert result.url is not None  # checked in _record
    return RedirectResponse(result.url, 302, headers=NO_STORE)
