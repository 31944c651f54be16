"""Limits, time and dedupe rules of ingest's domain."""

from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.domain import envelopes
from services.ingest.domain.dedupe import event_id
from services.ingest.domain.envelopes import Request
from services.ingest.domain.limits import Limits, TooLarge, retry_after
from services.ingest.domain.messages import Problem, check, too_large
from services.ingest.domain.timing import parse_time
from shared.workspaces import WorkspaceInfo

WS = WorkspaceInfo("ws_1", "Acme")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LIMITS = Limits(max_event_bytes=1024, max_batch_events=3)


def test_a_client_over_its_rate_waits_whole_seconds_and_at_least_one() -> None:
    assert retry_after(reset_time=100.2, now=98.0) == 3
    assert retry_after(reset_time=100.0, now=100.0) == 1
    assert retry_after(reset_time=99.0, now=100.0) == 1


def test_only_the_size_problem_makes_a_message_too_large() -> None:
    big = {"type": "track", "event": "x", "userId": "u", "properties": {"p": "x" * 2000}}
    assert too_large(check(big, kind=None, limits=LIMITS))
    assert not too_large(check({"type": "track"}, kind=None, limits=LIMITS))
    assert not too_large([Problem("(event)", "contains a NUL character (\\u0000)")])
    with pytest.raises(TooLarge, match="1024-byte limit per event"):
        envelopes.single(big, kind="track", workspace=WS, request=Request(NOW), limits=LIMITS)


def test_times_without_an_offset_are_utc_and_other_values_are_no_time() -> None:
    assert parse_time("2026-05-01T12:00:00") == NOW
    assert parse_time("2026-05-01T14:00:00+02:00") == NOW
    assert parse_time("2026-05-01T12:00:00Z") == NOW
    assert parse_time("yesterday") is None
    assert parse_time(1714564800) is None


def test_a_resent_message_is_the_same_event_but_not_in_another_workspace() -> None:
    assert event_id("ws_1", "m-1") == event_id("ws_1", "m-1")
    assert event_id("ws_1", "m-1") != event_id("ws_2", "m-1")
    track = {"type": "track", "event": "x", "userId": "u", "messageId": "m-1"}
    first, second = (
        envelopes.to_envelope(track, kind=None, workspace=WS, request=Request(NOW + delay))
        for delay in (timedelta(0), timedelta(minutes=5))
    )
    assert first.id == second.id


def test_erased_people_are_answered_as_accepted_and_dropped() -> None:
    def erased(raw: dict[str, object]) -> bool:
        return raw.get("userId") == "gone"

    one = {"type": "track", "event": "x", "userId": "gone"}
    single = envelopes.single(
        one, kind="track", workspace=WS, request=Request(NOW), limits=LIMITS, erased=erased
    )
    assert (single.accepted, single.rejected, single.dropped) == ([], [], 1)
    body = {"batch": [one, {**one, "userId": "here"}, {"type": "track"}]}
    batch = envelopes.batch(body, workspace=WS, request=Request(NOW), limits=LIMITS, erased=erased)
    assert (len(batch.accepted), [i for i, _, _ in batch.rejected], batch.dropped) == (1, [2], 1)


def test_simulated_traffic_becomes_the_events_ingest_would_publish() -> None:
    track = {"type": "track", "event": "x", "userId": "u", "context": {"ip": "203.0.113.77"}}
    [event] = envelopes.envelopes_of([track], "ws_9")
    assert (event.workspace_id, event.lead_key, event.type) == ("ws_9", "u", "track")
    assert event.payload["context"] == {"ip": "203.0.113.77"}  # no truncation asked for
