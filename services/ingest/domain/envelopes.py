"""Valid Segment messages as LeadFlow events: Segment's field names become ours, the client's
clock is corrected, the id is derived for dedupe, the IP truncated where the workspace asks.

`single` and `batch` decide what one request's messages become: accepted (encoded events),
rejected (with every problem) or dropped (people who asked to be erased).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from services.ingest.domain.dedupe import event_id, new_message_id
from services.ingest.domain.limits import Limits, TooLarge
from services.ingest.domain.messages import Problem, check, too_large
from services.ingest.domain.privacy import truncate_ip
from services.ingest.domain.timing import occurred_at, parse_time
from shared.events import Envelope
from shared.events.codec import Record, encode_fields


class Source(Protocol):
    """The sending workspace, as far as its events are concerned (shared.workspaces'
    WorkspaceInfo is one)."""

    @property
    def id(self) -> str: ...

    @property
    def truncate_ip(self) -> bool: ...


@dataclass(frozen=True)
class SimulatedSource:
    id: str
    truncate_ip: bool = False


@dataclass
class Request:
    """What the API layer knows of the HTTP request, beyond the body."""

    received_at: datetime
    ip: str | None = None
    user_agent: str | None = None


@dataclass
class Outcome:
    accepted: list[Record] = field(default_factory=list)
    rejected: list[tuple[int, dict[str, Any] | Any, list[Problem]]] = field(default_factory=list)
    dropped: int = 0  # messages of erased people: answered as accepted, never published


Erased = Callable[[dict[str, Any]], bool]
Fields = tuple[str, str, str, datetime, dict[str, Any]]


def _context(raw: dict[str, Any], workspace: Source, request: Request) -> dict[str, Any]:
    context = dict(raw.get("context") or {})
    ip = context.get("ip") or request.ip
    if ip and workspace.truncate_ip:
        ip = truncate_ip(str(ip))
    if ip:
        context["ip"] = ip
    if request.user_agent and "userAgent" not in context:
        context["userAgent"] = request.user_agent
    return context


def _by_type(msg_type: str, raw: dict[str, Any], payload: dict[str, Any]) -> None:
    """The fields each message type adds to the payload."""
    if msg_type == "track":
        payload["event"] = raw["event"]
        payload["properties"] = raw.get("properties") or {}
    elif msg_type in ("page", "screen"):
        payload["name"] = raw.get("name")
        payload["category"] = raw.get("category")
        payload["properties"] = raw.get("properties") or {}
    elif msg_type == "identify":
        payload["traits"] = raw.get("traits") or {}
    elif msg_type == "group":
        payload["group_id"] = str(raw["groupId"])
        payload["traits"] = raw.get("traits") or {}
    elif msg_type == "alias":
        payload["previous_id"] = str(raw["previousId"])


def _event_fields(
    raw: dict[str, Any],
    *,
    kind: str | None,
    workspace: Source,
    request: Request,
    batch_sent_at: Any,
) -> Fields:
    """Id, type, lead key, occurred_at and payload of a valid message's envelope."""
    msg_type = kind or raw["type"]
    message_id = str(raw.get("messageId") or new_message_id())
    anonymous_id = _str_or_none(raw.get("anonymousId"))
    user_id = _str_or_none(raw.get("userId"))
    payload: dict[str, Any] = {
        "message_id": message_id,
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "context": _context(raw, workspace, request),
        "integrations": raw.get("integrations") or {},
        "original_timestamp": raw.get("timestamp"),
        "sent_at": raw.get("sentAt") or batch_sent_at,
    }
    _by_type(msg_type, raw, payload)
    return (
        event_id(workspace.id, message_id),
        msg_type,
        # A browser's events (anonymous, then identified) stay in one partition, in order.
        anonymous_id or user_id or message_id,
        occurred_at(raw, request.received_at, batch_sent_at),
        payload,
    )


def to_envelope(
    raw: dict[str, Any],
    *,
    kind: str | None,
    workspace: Source,
    request: Request,
    batch_sent_at: Any = None,
) -> Envelope:
    """A valid message (see `check`) as the event published on the touchpoints topic."""
    id_, msg_type, lead_key, occurred, payload = _event_fields(
        raw, kind=kind, workspace=workspace, request=request, batch_sent_at=batch_sent_at
    )
    return Envelope(
        id=uuid.UUID(id_),
        type=msg_type,
        workspace_id=workspace.id,
        lead_key=lead_key,
        occurred_at=occurred,
        received_at=request.received_at,
        payload=payload,
    )


def to_record(
    raw: dict[str, Any],
    *,
    kind: str | None,
    workspace: Source,
    request: Request,
    batch_sent_at: Any = None,
) -> Record:
    """`Record.of(to_envelope(...))`, the same bytes, without building the pydantic model: a
    checked message's fields are already what Envelope accepts (tests compare the two)."""
    id_, msg_type, lead_key, occurred, payload = _event_fields(
        raw, kind=kind, workspace=workspace, request=request, batch_sent_at=batch_sent_at
    )
    return encode_fields(
        id=id_,
        type=msg_type,
        workspace_id=workspace.id,
        lead_key=lead_key,
        occurred_at=occurred,
        received_at=request.received_at,
        payload=payload,
    )


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def single(
    raw: Any,
    *,
    kind: str,
    workspace: Source,
    request: Request,
    limits: Limits,
    erased: Erased | None = None,
) -> Outcome:
    """One message from /v1/track, /v1/identify, …: accepted, or rejected with every problem.
    A message of an erased person (`erased`) is accepted and dropped."""
    problems = check(raw, kind=kind, limits=limits)
    if problems:
        if too_large(problems):
            raise TooLarge(f"event exceeds the {limits.max_event_bytes}-byte limit per event")
        return Outcome(rejected=[(0, raw, problems)])
    if erased is not None and erased(raw):
        return Outcome(dropped=1)
    return Outcome(accepted=[to_record(raw, kind=kind, workspace=workspace, request=request)])


def _batch_problem(body: Any, limits: Limits) -> Outcome | None:
    """What is wrong with the batch as a whole, if anything (raises TooLarge)."""
    messages = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return Outcome(
            rejected=[(-1, body, [Problem("batch", "must be a JSON array of messages")])]
        )
    if len(messages) > limits.max_batch_events:
        raise TooLarge(
            f"batch has {len(messages)} events, over the limit of {limits.max_batch_events}"
        )
    sent_at = body.get("sentAt")
    if sent_at is not None and parse_time(sent_at) is None:
        return Outcome(
            rejected=[(-1, body, [Problem("sentAt", f"is not an ISO 8601 date-time: {sent_at!r}")])]
        )
    return None


def batch(
    body: Any,
    *,
    workspace: Source,
    request: Request,
    limits: Limits,
    erased: Erased | None = None,
) -> Outcome:
    """/v1/batch: each message checked on its own; good ones accepted, bad ones listed, those
    of erased people (`erased`) dropped."""
    problem = _batch_problem(body, limits)
    if problem is not None:
        return problem
    sent_at = body.get("sentAt")
    outcome = Outcome()
    for index, raw in enumerate(body["batch"]):
        problems = check(raw, kind=None, limits=limits)
        if problems:
            outcome.rejected.append((index, raw, problems))
        elif erased is not None and erased(raw):
            outcome.dropped += 1
        else:
            outcome.accepted.append(
                to_record(
                    raw, kind=None, workspace=workspace, request=request, batch_sent_at=sent_at
                )
            )
    return outcome


def envelopes_of(messages: Iterable[dict[str, Any]], workspace_id: str) -> list[Envelope]:
    """Valid Segment messages as ingest would publish them, received now (for simulated
    traffic fed straight to Kafka: tests, benchmarks)."""
    workspace = SimulatedSource(workspace_id)
    request = Request(received_at=datetime.now(UTC))
    return [to_envelope(m, kind=None, workspace=workspace, request=request) for m in messages]
