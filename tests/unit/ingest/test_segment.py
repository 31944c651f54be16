import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.domain import dedupe, envelopes, messages, privacy, timing
from services.ingest.domain.envelopes import Request
from services.ingest.domain.limits import Limits, TooLarge
from shared.events import Envelope, decode, encode
from shared.workspaces import WorkspaceInfo

WS = WorkspaceInfo("ws_1", "Acme")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
REQ = Request(NOW, ip="203.0.113.77")
LIMITS = Limits(max_event_bytes=1024, max_batch_events=3)


def accepted(outcome: envelopes.Outcome) -> list[Envelope]:
    """The accepted events as consumers will read them."""
    return [decode(record.value) for record in outcome.accepted]


def problems(raw: object, kind: str | None = None) -> dict[str, str]:
    return {p.field: p.message for p in messages.check(raw, kind=kind, limits=LIMITS)}


def test_a_valid_track_has_no_problems() -> None:
    assert problems({"userId": "u1", "event": "Signed Up"}, "track") == {}


def test_every_problem_is_listed_at_once() -> None:
    found = problems(
        {"event": 7, "timestamp": "last week", "properties": [1], "sentAt": 3}, "track"
    )
    assert found == {
        "userId": "either userId or anonymousId is required",
        "event": "must be a string",
        "properties": "must be a JSON object",
        "timestamp": "is not an ISO 8601 date-time: 'last week'",
        "sentAt": "is not an ISO 8601 date-time: 3",
    }


@pytest.mark.parametrize(
    ("raw", "kind", "field", "message"),
    [
        ({"anonymousId": "a"}, "track", "event", "is required for track"),
        ({"userId": "u"}, "alias", "previousId", "is required for alias"),
        ({"userId": "u"}, "group", "groupId", "is required for group"),
        ({"userId": "u", "type": "teleport"}, None, "type", "unknown type 'teleport'"),
        ({"userId": ""}, "identify", "userId", "either userId or anonymousId is required"),
        ({"userId": True}, "identify", "userId", "must be a non-empty string"),
        ([1, 2], "track", "(event)", "must be a JSON object"),
    ],
)
def test_what_each_type_requires(raw: object, kind: str | None, field: str, message: str) -> None:
    assert problems(raw, kind)[field].startswith(message)


def test_an_event_over_the_size_limit_is_too_large() -> None:
    raw = {"userId": "u", "event": "x", "properties": {"blob": "a" * 2000}}
    with pytest.raises(TooLarge, match="1024-byte limit per event"):
        envelopes.single(raw, kind="track", workspace=WS, request=REQ, limits=LIMITS)


def test_clock_skew_is_corrected_with_sent_at() -> None:
    # The client's clock is 1 h fast: it stamped the event 10 s before it sent it.
    raw = {"timestamp": "2026-05-01T13:00:00Z", "sentAt": "2026-05-01T13:00:10Z"}
    assert timing.occurred_at(raw, NOW) == NOW - timedelta(seconds=10)


def test_timestamp_without_sent_at_is_taken_as_is_and_none_means_now() -> None:
    assert timing.occurred_at({"timestamp": "2026-04-30T08:00:00+02:00"}, NOW) == datetime(
        2026, 4, 30, 6, tzinfo=UTC
    )
    assert timing.occurred_at({}, NOW) == NOW
    assert timing.occurred_at({"timestamp": "2026-04-30T08:00:00"}, NOW) == datetime(
        2026, 4, 30, 8, tzinfo=UTC
    )


def test_envelope_carries_our_field_names_and_a_stable_id() -> None:
    raw = {
        "anonymousId": "a1",
        "userId": "u1",
        "event": "Clicked",
        "messageId": "m-1",
        "properties": {"x": 1},
    }
    [first] = accepted(
        envelopes.single(raw, kind="track", workspace=WS, request=REQ, limits=LIMITS)
    )
    [again] = accepted(
        envelopes.single(raw, kind="track", workspace=WS, request=REQ, limits=LIMITS)
    )
    assert first.id == again.id  # the same messageId is the same event downstream
    assert first.id == uuid.uuid5(dedupe.MESSAGE_ID_NAMESPACE, "ws_1:m-1")
    assert first.workspace_id == "ws_1"
    assert first.lead_key == "a1"  # a browser's events stay in one partition
    assert first.payload["event"] == "Clicked"
    assert first.payload["user_id"] == "u1"
    assert first.payload["context"]["ip"] == "203.0.113.77"
    assert first.received_at == NOW
    assert decode(encode(first)) == first  # valid for its type


def test_message_id_is_generated_when_absent() -> None:
    raw = {"userId": "u1", "traits": {"email": "a@b.c"}}
    [env] = accepted(
        envelopes.single(raw, kind="identify", workspace=WS, request=REQ, limits=LIMITS)
    )
    assert env.payload["message_id"]
    assert env.lead_key == "u1"


def test_ip_is_truncated_when_the_workspace_asks() -> None:
    ws = WorkspaceInfo("ws_2", "Private", truncate_ip=True)
    [env] = accepted(
        envelopes.single(
            {"userId": "u", "event": "e"}, kind="track", workspace=ws, request=REQ, limits=LIMITS
        )
    )
    assert env.payload["context"]["ip"] == "203.0.113.0"
    assert privacy.truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::"
    assert privacy.truncate_ip("not an ip") == ""


def test_batch_accepts_the_good_and_lists_the_bad_with_their_index() -> None:
    body = {
        "batch": [
            {"type": "page", "anonymousId": "a"},
            {"type": "track", "userId": "u"},
            {"type": "alias", "userId": "u", "previousId": "a"},
        ]
    }
    outcome = envelopes.batch(body, workspace=WS, request=REQ, limits=LIMITS)
    assert [e.type for e in accepted(outcome)] == ["page", "alias"]
    [(index, _, found)] = outcome.rejected
    assert index == 1
    assert [p.field for p in found] == ["event"]


def test_batch_over_the_count_limit_is_too_large_and_batch_must_be_a_list() -> None:
    with pytest.raises(TooLarge, match="4 events, over the limit of 3"):
        envelopes.batch({"batch": [{}] * 4}, workspace=WS, request=REQ, limits=LIMITS)
    outcome = envelopes.batch({"batch": "x"}, workspace=WS, request=REQ, limits=LIMITS)
    assert outcome.rejected[0][2][0].message == "must be a JSON array of messages"
