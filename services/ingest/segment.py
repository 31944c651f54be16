"""Segment's HTTP Tracking API messages: validation and conversion to LeadFlow envelopes.

Pure functions, no I/O: the API layer reads the body, this decides what is accepted.
Field names are Segment's (`userId`, `anonymousId`, `messageId`, …); payloads use ours.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.events import Envelope
from shared.events.codec import Record, encode_fields
from shared.workspaces import WorkspaceInfo

TYPES = ("track", "identify", "page", "screen", "group", "alias")
# messageId is unique per workspace: the envelope id derived from it makes a re-sent message
# the same event downstream, where every consumer's inbox drops it.
MESSAGE_ID_NAMESPACE = uuid.UUID("7d4b2c35-1f0e-4d8a-9c3b-6a5e2f1d0c9b")
_random = random.Random()  # seeded from os.urandom
OBJECT_FIELDS = ("properties", "traits", "context", "integrations")
ID_FIELDS = ("userId", "anonymousId", "messageId", "previousId", "groupId")
STRING_FIELDS = ("event", "name", "category", "writeKey")
# A JSON-escaped NUL (an even number of backslashes before it, so not a literal "\u0000").
NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
REQUIRED_BY_TYPE = {"track": ("event",), "alias": ("previousId",), "group": ("groupId",)}


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class Limits:
    max_event_bytes: int = 32 * 1024
    max_batch_events: int = 2500


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


class TooLarge(ValueError):
    """The request breaks a size limit (answered 413, naming the limit)."""


def check(raw: Any, *, kind: str | None, limits: Limits) -> list[Problem]:
    """Every problem with one message (an empty list means it is valid)."""
    if not isinstance(raw, dict):
        return [Problem("(event)", "must be a JSON object")]
    problems: list[Problem] = []
    encoded = orjson.dumps(raw)
    size = len(encoded)
    if NUL.search(encoded):
        # PostgreSQL stores no NUL in text or jsonb: downstream it would dead-letter the event.
        problems.append(Problem("(event)", "contains a NUL character (\\u0000)"))
    if size > limits.max_event_bytes:
        problems.append(
            Problem(
                "(event)",
                f"is {size} bytes, over the {limits.max_event_bytes}-byte limit per event",
            )
        )
    msg_type = kind or raw.get("type")
    if msg_type not in TYPES:
        problems.append(
            Problem("type", f"unknown type {msg_type!r}; expected one of {', '.join(TYPES)}")
        )
    for name in ID_FIELDS:
        value = raw.get(name)
        if value is not None and not (
            isinstance(value, str | int) and not isinstance(value, bool) and str(value)
        ):
            problems.append(Problem(name, "must be a non-empty string"))
    if not _present(raw, "userId") and not _present(raw, "anonymousId"):
        problems.append(Problem("userId", "either userId or anonymousId is required"))
    for name in REQUIRED_BY_TYPE.get(str(msg_type), ()):
        if not _present(raw, name):
            problems.append(Problem(name, f"is required for {msg_type}"))
    for name in STRING_FIELDS:
        if raw.get(name) is not None and not isinstance(raw[name], str):
            problems.append(Problem(name, "must be a string"))
    for name in OBJECT_FIELDS:
        if raw.get(name) is not None and not isinstance(raw[name], dict):
            problems.append(Problem(name, "must be a JSON object"))
    for name in ("timestamp", "sentAt"):
        if raw.get(name) is not None and parse_time(raw[name]) is None:
            problems.append(Problem(name, f"is not an ISO 8601 date-time: {raw[name]!r}"))
    return problems


def _present(raw: dict[str, Any], name: str) -> bool:
    value = raw.get(name)
    return value is not None and value != ""


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 with or without offset (without one, UTC, as Segment does)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def occurred_at(raw: dict[str, Any], received_at: datetime, batch_sent_at: Any = None) -> datetime:
    """Clock-skew corrected time: receivedAt - (sentAt - timestamp) when the client says both."""
    timestamp = parse_time(raw.get("timestamp"))
    sent_at = parse_time(raw.get("sentAt") or batch_sent_at)
    if timestamp is None:
        return received_at
    if sent_at is None:
        return timestamp
    try:
        return received_at - (sent_at - timestamp)
    except OverflowError:  # clocks millennia apart (found by fuzzing): take the client's word
        return timestamp


def truncate_ip(ip: str) -> str:
    """Keep the network, drop the host: /24 for IPv4, /48 for IPv6."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def _event_fields(
    raw: dict[str, Any],
    *,
    kind: str | None,
    workspace: WorkspaceInfo,
    request: Request,
    batch_sent_at: Any,
) -> tuple[str, str, str, datetime, dict[str, Any]]:
    """Id, type, lead key, occurred_at and payload of a valid message's envelope."""
    msg_type = kind or raw["type"]
    message_id = str(raw.get("messageId") or _new_message_id())
    anonymous_id = _str_or_none(raw.get("anonymousId"))
    user_id = _str_or_none(raw.get("userId"))
    context = dict(raw.get("context") or {})
    ip = context.get("ip") or request.ip
    if ip and workspace.truncate_ip:
        ip = truncate_ip(str(ip))
    if ip:
        context["ip"] = ip
    if request.user_agent and "userAgent" not in context:
        context["userAgent"] = request.user_agent
    payload: dict[str, Any] = {
        "message_id": message_id,
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "context": context,
        "integrations": raw.get("integrations") or {},
        "original_timestamp": raw.get("timestamp"),
        "sent_at": raw.get("sentAt") or batch_sent_at,
    }
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
    workspace: WorkspaceInfo,
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
    workspace: WorkspaceInfo,
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


# uuid.uuid5 and str(uuid.UUID) spelled out on hex strings: the same values, a third of the cost.
_ID_HASH = hashlib.sha1(MESSAGE_ID_NAMESPACE.bytes, usedforsecurity=False)
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # RFC 4122 variant nibble


def event_id(workspace_id: str, message_id: str) -> str:
    """str(uuid5(MESSAGE_ID_NAMESPACE, "workspace_id:message_id")): the dedupe key downstream."""
    digest = _ID_HASH.copy()
    digest.update(f"{workspace_id}:{message_id}".encode())
    h = digest.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def _new_message_id() -> str:
    """Unique, not secret: a random UUID (version 4) without a getrandom() call per event."""
    h = _random.randbytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def single(
    raw: Any,
    *,
    kind: str,
    workspace: WorkspaceInfo,
    request: Request,
    limits: Limits,
    erased: Callable[[dict[str, Any]], bool] | None = None,
) -> Outcome:
    """One message from /v1/track, /v1/identify, …: accepted, or rejected with every problem.
    A message of an erased person (`erased`) is accepted and dropped."""
    problems = check(raw, kind=kind, limits=limits)
    if problems:
        if any(p.message.endswith("limit per event") for p in problems):
            raise TooLarge(f"event exceeds the {limits.max_event_bytes}-byte limit per event")
        return Outcome(rejected=[(0, raw, problems)])
    if erased is not None and erased(raw):
        return Outcome(dropped=1)
    return Outcome(accepted=[to_record(raw, kind=kind, workspace=workspace, request=request)])


def batch(
    body: Any,
    *,
    workspace: WorkspaceInfo,
    request: Request,
    limits: Limits,
    erased: Callable[[dict[str, Any]], bool] | None = None,
) -> Outcome:
    """/v1/batch: each message checked on its own; good ones accepted, bad ones listed, those
    of erased people (`erased`) dropped."""
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
    outcome = Outcome()
    for index, raw in enumerate(messages):
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
    workspace = WorkspaceInfo(workspace_id, workspace_id)
    request = Request(received_at=datetime.now(UTC))
    return [to_envelope(m, kind=None, workspace=workspace, request=request) for m in messages]
