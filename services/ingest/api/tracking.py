"""Segment's Tracking API (/v1/track, /v1/batch, ...), its CORS preflight, the tracker script."""

from __future__ import annotations

import logging
from time import perf_counter
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from services.ingest.adapters.publishing import Unavailable
from services.ingest.api.deps import IngestState, State, authenticate, ingest_state
from services.ingest.api.schemas import BATCH_SCHEMA, MESSAGE_SCHEMA
from services.ingest.domain import envelopes
from services.ingest.domain.auth import AuthError
from services.ingest.domain.body import BodyError, parse_json, read_limited
from services.ingest.domain.limits import TooLarge
from services.ingest.domain.messages import TYPES
from shared.events import utcnow
from shared.http_metrics import record
from shared.http_security import HSTS_HEADER, HSTS_VALUE, over_https
from shared.workspaces import WorkspaceDirectory, WorkspaceInfo

router = APIRouter()
log = logging.getLogger(__name__)


def _json(
    status: int, body: dict[str, Any], origin: str | None, headers: dict[str, str] | None = None
) -> Response:
    response = Response(orjson.dumps(body), status, headers=headers, media_type="application/json")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def _error(
    status: int,
    message: str,
    origin: str | None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    return _json(status, {"success": False, "error": message, **extra}, origin, headers)


async def _authenticated_body(
    request: Request, state: IngestState, origin: str | None
) -> tuple[Any, WorkspaceInfo] | Response:
    """The parsed body and the sending workspace, or the error answer."""
    try:
        encoding = request.headers.get("content-encoding", "")
        body = parse_json(
            await read_limited(request.stream(), encoding, state.settings.max_request_bytes)
        )
        workspace = authenticate(request.headers.get("authorization"), body, state.directory)
    except (BodyError, AuthError) as exc:
        headers = {"WWW-Authenticate": 'Basic realm="LeadFlow"'} if exc.status == 401 else None
        return _error(exc.status, exc.message, origin, headers=headers)
    except ClientDisconnect:
        # The client went away mid-body (e.g. a Content-Length longer than what it sent):
        # nothing was accepted; a 4xx in the metrics, not a server error.
        return _error(400, "the connection closed before the whole body arrived", origin)
    return body, workspace


async def _publish(
    state: IngestState,
    workspace: WorkspaceInfo,
    outcome: envelopes.Outcome,
    rejected: list[dict[str, Any]],
    origin: str | None,
) -> Response:
    """Within the workspace's rate: the accepted events to Kafka, the rejected ones to the
    dead-letter topic; answered once Kafka holds them."""
    retry_after = await state.retry_after_if_limited(workspace.id, len(outcome.accepted))
    if retry_after is not None:
        return _error(
            429,
            f"rate limit of {state.rate} events exceeded",
            origin,
            headers={"Retry-After": str(retry_after)},
        )
    try:
        await state.touchpoints.publish(outcome.accepted)
        if outcome.rejected:
            await state.touchpoints.reject(workspace.id, outcome.rejected)
    except Unavailable:
        retry = {"Retry-After": str(state.settings.retry_after_seconds)}
        return _error(
            503, "event store unavailable, nothing was accepted: retry later", origin, headers=retry
        )
    if rejected and not outcome.accepted and not outcome.dropped:
        return _error(400, "every message in the batch was rejected", origin, rejected=rejected)
    return _json(200, {"success": True, **({"rejected": rejected} if rejected else {})}, origin)


async def ingest(request: Request, kind: str | None, state: IngestState) -> Response:
    """One message (kind given) or a batch (kind None): validate, publish, answer."""
    origin = request.headers.get("origin")
    received_at = utcnow()
    read = await _authenticated_body(request, state, origin)
    if isinstance(read, Response):
        return read
    body, workspace = read
    if not workspace.origin_allowed(origin):
        return _error(403, f"origin {origin} is not allowed to send to this workspace", None)

    context = envelopes.Request(received_at, ip=request.client.host if request.client else None)
    erased = state.erased.check_for(workspace.id)
    try:
        if kind is None:
            outcome = envelopes.batch(
                body, workspace=workspace, request=context, limits=state.limits, erased=erased
            )
        else:
            outcome = envelopes.single(
                body,
                kind=kind,
                workspace=workspace,
                request=context,
                limits=state.limits,
                erased=erased,
            )
    except TooLarge as exc:
        return _error(413, str(exc), origin)
    rejected = [
        {"index": i, "errors": [p.as_dict() for p in problems]}
        for i, _, problems in outcome.rejected
    ]
    if kind is not None and rejected:
        return _error(400, "invalid message", origin, errors=rejected[0]["errors"])
    return await _publish(state, workspace, outcome, rejected, origin)


def _add_message_route(kind: str) -> None:
    async def endpoint(request: Request, state: State) -> Response:
        return await ingest(request, kind, state)

    endpoint.__name__ = f"ingest_{kind}"
    router.add_api_route(
        f"/v1/{kind}",
        endpoint,
        methods=["POST"],
        tags=["tracking"],
        summary=f"Record a {kind} message",
        description="Segment-compatible. Authenticate with HTTP Basic (write key as user name, "
        "empty password) or `writeKey` in the body. Answers 200 only once Kafka holds the event.",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": MESSAGE_SCHEMA}},
            }
        },
    )


for _kind in TYPES:
    _add_message_route(_kind)


class FastPath:
    """ASGI app in front of FastAPI: POST /v1/<type> and /v1/batch go straight to `ingest`,
    everything else to FastAPI. The framework's middleware and routing layers cost about
    two fifths of one-event throughput (`make bench`); FastAPI's routes for the same paths
    stay for the OpenAPI docs."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.kinds: dict[str, str | None] = {f"/v1/{kind}": kind for kind in TYPES}
        self.kinds["/v1/batch"] = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or scope["method"] != "POST" or path not in self.kinds:
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        scope["app"] = self.app  # what Starlette would set: the state is found through it
        try:
            request = Request(scope, receive)
            response = await ingest(request, self.kinds[path], ingest_state(request))
        except Exception:
            log.exception("ingest request failed")
            response = _error(500, "internal error", None)
        if over_https(scope):  # what the Hsts middleware adds on the framework's routes
            response.headers[HSTS_HEADER] = HSTS_VALUE
        await response(scope, receive, send)
        record("ingest", "POST", str(path), response.status_code, perf_counter() - start)


@router.post(
    "/v1/batch",
    tags=["tracking"],
    summary="Record several messages",
    description="Each message is checked on its own: good ones are accepted, bad ones are listed "
    "under `rejected` with their index and reasons (and sent to the dead-letter topic).",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": BATCH_SCHEMA}}}
    },
)
async def ingest_batch(request: Request, state: State) -> Response:
    return await ingest(request, None, state)


PREFLIGHT_GRANT = {
    "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding",
    "Access-Control-Max-Age": "86400",
}


def preflight_headers(origin: str | None, directory: WorkspaceDirectory) -> dict[str, str]:
    """A preflight carries no key, so it cannot name the workspace: it grants an origin that
    some workspace allows (listed by one, or any origin while a workspace keeps no list), and
    the real request is checked against its own workspace (`_authenticated_body`). An origin
    no workspace allows gets no Access-Control-Allow-Origin, so a browser does not send the
    request it asked about. The answer depends on the Origin, hence `Vary` either way."""
    if origin and directory.origin_allowed_anywhere(origin):
        return {"Access-Control-Allow-Origin": origin, **PREFLIGHT_GRANT, "Vary": "Origin"}
    return {"Vary": "Origin"}


@router.options("/v1/{path:path}", include_in_schema=False)
async def preflight(request: Request, state: State) -> Response:
    """CORS preflight (see `preflight_headers`)."""
    headers = preflight_headers(request.headers.get("origin"), state.directory)
    return Response(status_code=204, headers=headers)


@router.get(
    "/v1/tracker.js",
    tags=["tracker"],
    summary="The browser tracker script",
    response_class=Response,
    responses={200: {"content": {"application/javascript": {"schema": {"type": "string"}}}}},
)
async def tracker_js(state: State) -> Response:
    return Response(
        state.tracker_js,
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )
