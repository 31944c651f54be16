"""Ingest encodes envelopes without building pydantic models: the bytes and ids must be exactly
what the model path (`encode(to_envelope(...))`, `uuid.uuid5`) gives, on many inputs."""

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from services.ingest.domain import dedupe, envelopes, messages
from services.ingest.domain.envelopes import Request
from services.ingest.domain.limits import Limits
from shared.events import Envelope, decode, encode, encode_key
from shared.events.codec import Record, encode_fields
from shared.workspaces import WorkspaceInfo
from tests.json_values import WORDS, ZONES, json_value

LIMITS = Limits()


def _object(rng: random.Random) -> dict[str, Any]:
    return {
        rng.choice(WORDS) + str(i): json_value(rng, 1, hex_strings=True)
        for i in range(rng.randrange(5))
    }


def _time(rng: random.Random) -> str:
    moment = datetime(2026, 5, 1, tzinfo=UTC) + timedelta(seconds=rng.uniform(-1e7, 1e7))
    moment = moment.astimezone(rng.choice(ZONES))
    if rng.random() < 0.3:
        moment = moment.replace(microsecond=0)
    text = moment.isoformat()
    return rng.choice([text, text.replace("+00:00", "Z"), text[:19]])


def _message(rng: random.Random) -> dict[str, Any]:
    msg_type = rng.choice(messages.TYPES)
    raw: dict[str, Any] = {"type": msg_type}
    ids = [rng.choice(["u-1", "ada@acme.example", "é", 42, 0, "a" * 80]) for _ in range(4)]
    if rng.random() < 0.7:
        raw["anonymousId"] = ids[0]
    if rng.random() < 0.6 or "anonymousId" not in raw:
        raw["userId"] = ids[1]
    if rng.random() < 0.8:
        raw["messageId"] = rng.choice([str(uuid.UUID(int=rng.getrandbits(128))), ids[2]])
    if msg_type == "track":
        raw["event"] = rng.choice([w for w in WORDS if w])
    if msg_type == "alias":
        raw["previousId"] = ids[3]
    if msg_type == "group":
        raw["groupId"] = ids[3]
    for name in ("name", "category"):
        if rng.random() < 0.3:
            raw[name] = rng.choice(WORDS)
    for name in messages.OBJECT_FIELDS:
        if rng.random() < 0.5:
            raw[name] = _object(rng) if rng.random() < 0.95 else json_value(rng, hex_strings=True)
    if rng.random() < 0.3 and isinstance(raw.setdefault("context", {}), dict):
        raw["context"]["ip"] = rng.choice(["198.51.100.7", "2001:db8::1", "?"])
    for name in ("timestamp", "sentAt"):
        if rng.random() < 0.5:
            raw[name] = _time(rng)
    if rng.random() < 0.1:
        raw["extra"] = json_value(rng, hex_strings=True)
    return raw


def test_event_ids_are_uuid5_of_workspace_and_message_id() -> None:
    rng = random.Random(5)
    for i in range(5000):
        workspace = rng.choice(["ws_1", "ws_é", f"ws_{i}"])
        message_id = rng.choice([str(uuid.uuid4()), f"m-{i}", "日本語", "x" * rng.randrange(200)])
        expected = uuid.uuid5(dedupe.MESSAGE_ID_NAMESPACE, f"{workspace}:{message_id}")
        assert dedupe.event_id(workspace, message_id) == str(expected)


def test_generated_message_ids_are_random_version_4_uuids() -> None:
    ids = {dedupe.new_message_id() for _ in range(5000)}
    assert len(ids) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


@pytest.mark.parametrize("seed", range(4))
def test_records_are_the_bytes_the_envelope_model_gives(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    generated = iter(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(10**6))
    compared = 0
    for _ in range(1500):
        raw = _message(rng)
        kind = rng.choice([None, raw["type"]])
        if messages.check(raw, kind=kind, limits=LIMITS):
            continue
        workspace = WorkspaceInfo(rng.choice(["ws_1", "ws_é"]), "w", truncate_ip=rng.random() < 0.3)
        received = datetime(2026, 5, 1, 12, 0, rng.randrange(60), rng.randrange(10**6), UTC)
        request = Request(received, ip=rng.choice([None, "203.0.113.9"]))
        request.user_agent = rng.choice([None, "Mozilla/5.0"])
        sent_at = rng.choice([None, _time(rng)])
        # The same generated messageId for both paths when the message has none.
        message_id = next(generated)
        monkeypatch.setattr(envelopes, "new_message_id", lambda m=message_id: m)
        envelope = envelopes.to_envelope(
            raw, kind=kind, workspace=workspace, request=request, batch_sent_at=sent_at
        )
        record = envelopes.to_record(
            raw, kind=kind, workspace=workspace, request=request, batch_sent_at=sent_at
        )
        assert record == Record(encode(envelope), encode_key(envelope)) == Record.of(envelope)
        assert decode(record.value) == envelope
        compared += 1
    assert compared > 1000


def test_encode_fields_is_encode_of_the_model() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        fields: dict[str, Any] = {
            "id": uuid.UUID(int=rng.getrandbits(128)),
            "type": rng.choice(["track", "lead.scored", "é"]),
            "workspace_id": rng.choice(["ws_1", "ws_é", "w" * 40]),
            "lead_key": rng.choice(["a", "u:1", "日本語"]),
            "occurred_at": datetime.fromisoformat(_time(rng)).replace(tzinfo=rng.choice(ZONES)),
            "received_at": datetime(2026, 5, 1, 12, 0, 0, rng.randrange(10**6), UTC),
            "payload": _object(rng),
        }
        envelope = Envelope(**fields)
        assert encode_fields(**fields) == Record.of(envelope)
        assert encode_fields(**{**fields, "id": str(fields["id"])}) == Record.of(envelope)


def test_encode_is_the_models_dump() -> None:
    """`encode` builds the envelope's dict itself: the bytes pydantic's dump gave, on many
    payloads (a model inside one included)."""
    rng = random.Random(11)
    for k in range(2000):
        payload = _object(rng)
        if k % 10 == 0:
            at = datetime(2026, 5, 1, tzinfo=UTC)
            payload["model"] = Envelope(type="x", workspace_id="w", lead_key="k", occurred_at=at)
        envelope = Envelope(
            type=rng.choice(["track", "lead.scored", "é"]),
            workspace_id=rng.choice(["ws_1", "ws_é"]),
            lead_key=rng.choice(["a", "日本語"]),
            occurred_at=datetime.fromisoformat(_time(rng)).replace(tzinfo=rng.choice(ZONES)),
            payload=payload,
        )
        assert encode(envelope) == orjson.dumps(envelope.model_dump(mode="python"))
