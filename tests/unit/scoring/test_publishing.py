"""Scoring encodes the events it publishes without building pydantic models: the bytes must be
exactly what the model path (`Record.of(Envelope(...))`) gives for the same event, on many
leads (odd traits, every stage, time zones), and each must decode as its type."""

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.scoring.domain import publishing
from services.scoring.domain.features import FeatureState
from services.scoring.domain.records import LeadRecord
from shared.events import Envelope, decode, encode, encode_key
from shared.events.codec import Record
from tests.json_values import WORDS, ZONES, json_value

STAGES = [None, "subscriber", "lead", "mql", "sql", "opportunity", "customer", "recycled"]


def _at(rng: random.Random) -> datetime:
    base = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**8))
    return base.replace(microsecond=rng.choice([0, rng.randrange(10**6)])).astimezone(
        rng.choice(ZONES)
    )


def _lead(rng: random.Random) -> LeadRecord:
    traits = {rng.choice(WORDS) + str(i): json_value(rng) for i in range(rng.randrange(5))}
    if rng.random() < 0.6:
        traits["email"] = f"p{rng.randrange(1000)}@example.com"
    return LeadRecord(
        id=f"ld_{rng.getrandbits(64):016x}",
        workspace_id=rng.choice(["ws_a", "ws_é", "w"]),
        traits=traits,
        features=FeatureState(),
        first_seen_at=_at(rng),
        last_seen_at=_at(rng),
        stage=rng.choice(STAGES[1:]),
        stage_entered_at=_at(rng),
        score=rng.randrange(101),
        probability=rng.random(),
        fit=rng.randrange(101),
        engagement=rng.randrange(101),
        model_version=rng.choice(["default-1", "m-é"]),
        factors=[
            {"name": rng.choice(WORDS), "points": rng.randrange(-50, 50), "text": rng.choice(WORDS)}
            for _ in range(rng.randrange(7))
        ],
        published_score=rng.choice([None, rng.randrange(101)]),
        user_ids=sorted(rng.choice(WORDS) + str(i) for i in range(rng.randrange(3))),
        anonymous_ids=sorted(f"anon-{rng.getrandbits(32):x}" for _ in range(rng.randrange(3))),
    )


def _events(rng: random.Random, record: LeadRecord) -> list[Record]:
    at, eid = _at(rng), uuid.UUID(int=rng.getrandbits(128))
    return [
        publishing.scored(record, at, eid),
        publishing.lifecycle_changed(
            record,
            from_stage=rng.choice(STAGES),
            to_stage=rng.choice(STAGES[1:]),
            reason=rng.choice(WORDS),
            actor=rng.choice(["auto", "sales", "event", "merge"]),
            at=at,
            eid=eid,
            amount=rng.choice([None, rng.uniform(0, 1e5), float(rng.randrange(100))]),
        ),
        publishing.merged(record, [f"ld_{rng.getrandbits(64):016x}"], at, eid),
        publishing.stalled(record, rng.choice(WORDS), at),
    ]


def _old_envelope(
    kind: str, record: LeadRecord, at: datetime, eid: uuid.UUID, **payload: Any
) -> Record:
    """publishing._envelope as it was: a validated Envelope, encoded by `encode`."""
    envelope = Envelope(
        id=eid,
        type=kind,
        workspace_id=record.workspace_id,
        lead_key=record.id,
        occurred_at=at,
        received_at=publishing.utcnow(),
        payload=payload,
    )
    return Record(encode(envelope), encode_key(envelope))


def test_published_events_are_the_bytes_of_the_model_path(monkeypatch: pytest.MonkeyPatch) -> None:
    received = datetime(2026, 6, 1, 12, 30, 0, 123456, tzinfo=UTC)
    monkeypatch.setattr(publishing, "utcnow", lambda: received)
    for seed in range(400):
        record = _lead(random.Random(seed))
        fast = _events(random.Random(seed), record)
        with monkeypatch.context() as patched:
            patched.setattr(publishing, "_envelope", _old_envelope)
            slow = _events(random.Random(seed), record)
        assert fast == slow
        for encoded in fast:
            envelope = decode(encoded.value)  # a valid event of its type
            assert encoded.key == envelope.key.encode()
            assert envelope.received_at == received
