"""Email engagement: the open pixel and tracked links, recorded as touchpoints."""

from __future__ import annotations

import base64
import uuid

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from services.ingest.publishing import Unavailable
from services.ingest.segment import truncate_ip
from services.ingest.state import IngestState
from shared.email_links import EmailLink, InvalidToken, verify
from shared.events import Envelope, utcnow
from shared.events.codec import Record

router = APIRouter(tags=["email engagement"])
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, private"}


def _event(kind: str, link: EmailLink, request: Request, ip_truncated: bool) -> Envelope:
    ip = request.client.host if request.client else None
    payload = {
        "lead_id": link.lead_id,
        "send_id": link.send_id,
        "sequence_id": link.sequence_id,
        "step_id": link.step_id,
        "user_agent": request.headers.get("user-agent"),
        "ip": truncate_ip(ip) if ip and ip_truncated else ip,
    }
    if link.url is not None:
        payload["url"] = link.url
    now = utcnow()
    # Each open or click is its own fact (opening twice is two opens): a fresh id each time.
    return Envelope(
        id=uuid.uuid4(),
        type=kind,
        workspace_id=link.workspace_id,
        lead_key=link.lead_key,
        occurred_at=now,
        received_at=now,
        payload=payload,
    )


async def _record(request: Request, token: str, kind: str) -> EmailLink | Response:
    state: IngestState = request.app.state.ingest
    try:
        link = verify(token, state.settings.secret_key.get_secret_value())
    except InvalidToken:
        return Response("unknown link", 404, media_type="text/plain")
    workspace = state.directory.get(link.workspace_id)
    if workspace is None or (kind == "email.clicked") != (link.url is not None):
        return Response("unknown link", 404, media_type="text/plain")
    try:
        event = _event(kind, link, request, workspace.truncate_ip)
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
async def opened(request: Request, token: str) -> Response:
    result = await _record(request, token, "email.opened")
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
async def clicked(request: Request, token: str) -> Response:
    result = await _record(request, token, "email.clicked")
    if isinstance(result, Response):
        return result
    assert result.url is not None  # checked in _record
    return RedirectResponse(result.url, 302, headers=NO_STORE)
