from datetime import UTC, datetime

import orjson
import pytest

from shared.events import (
    EMAIL_TYPES,
    ENROLLMENT_TYPES,
    EVENT_TYPES,
    LEAD_TYPES,
    TOUCHPOINT_TYPES,
    DecodeError,
    Envelope,
    Topics,
    decode,
    encode,
    typed_payload,
)
from shared.events.types import LeadScored, Tracked


def envelope(**overrides: object) -> Envelope:
    fields: dict[str, object] = {
        "type": "track",
        "workspace_id": "ws1",
        "lead_key": "anon-1",
        "occurred_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "payload": {"message_id": "m1", "event": "Signed Up", "properties": {"plan": "pro"}},
    }
    fields.update(overrides)
    return Envelope.model_validate(fields)


def test_round_trip_keeps_every_field() -> None:
    original = envelope()
    assert decode(encode(original)) == original


def test_key_keeps_one_leads_events_together() -> None:
    assert envelope().key == "ws1:anon-1"


def test_typed_payload_is_the_types_model() -> None:
    payload = typed_payload(envelope())
    assert isinstance(payload, Tracked)
    assert payload.event == "Signed Up"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "invalid envelope"),
        (None, "empty message value"),
        (orjson.dumps({"type": "track"}), "workspace_id: Field required"),
        (encode(envelope(type="nope")), "unknown event type 'nope'"),
        (
            encode(envelope(payload={"message_id": "m"})),
            "invalid track payload: event: Field required",
        ),
    ],
)
def test_decode_says_what_is_wrong(raw: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(raw)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        envelope(occurred_at=datetime(2026, 1, 1))


def test_score_is_bounded() -> None:
    fields = {"lead_id": "l", "probability": 0.5, "fit": 0, "engagement": 0, "model_version": "v1"}
    with pytest.raises(ValueError, match="less than or equal to 100"):
        LeadScored.model_validate({**fields, "score": 101})


def test_topics_are_prefixed_and_workspaces_compacted() -> None:
    topics = Topics("acme")
    assert topics.touchpoints == "acme.touchpoints"
    assert set(topics.all()) == {
        "acme.touchpoints",
        "acme.lead-events",
        "acme.email-events",
        "acme.workspaces",
        "acme.deadletter",
    }
    assert topics.config(topics.workspaces) == {"cleanup.policy": "compact"}
    assert topics.config(topics.touchpoints) == {}


def test_every_type_is_in_one_family() -> None:
    families = [TOUCHPOINT_TYPES, EMAIL_TYPES, ENROLLMENT_TYPES, LEAD_TYPES]
    named = [t for family in families for t in family]
    others = {"workspace.changed", "privacy.erasure_requested"}
    assert sorted(named + sorted(others)) == sorted(EVENT_TYPES)


def test_decoded_envelope_keeps_its_typed_payload() -> None:
    original = envelope()
    decoded = decode(encode(original))
    assert decoded.data_as(Tracked) is decoded.data  # validated once, by decode
    assert decoded == original  # the kept model does not make two messages differ
    with pytest.raises(TypeError, match="not LeadScored"):
        decoded.data_as(LeadScored)
