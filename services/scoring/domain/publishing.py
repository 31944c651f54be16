"""The lead events scoring publishes (through its outbox), with ids a replay reproduces.

An event's id is derived from what caused it (the touchpoint, the lead, the stage), so a
replay of the same touchpoints yields the same ids and consumers' inboxes drop repeats.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from services.scoring.domain.records import LeadRecord
from shared.events import Envelope, utcnow
from shared.events.codec import Record, encode_fields

_IDS = uuid.UUID("2f4a8c1e-7d3b-4e6f-9a0b-5c1d2e3f4a5b")
_ID_HASH = hashlib.sha1(_IDS.bytes, usedforsecurity=False)
# uuid5's version (5) and RFC 4122 variant bits, set on the first 128 bits of the hash
_KEEP = ~((0xF000 << 64) | (0xC000 << 48))
_SET = (5 << 76) | (0x8000 << 48)


def event_id(*parts: object) -> uuid.UUID:
    """uuid.uuid5(_IDS, "part:part:..."), at half the cost (one made per published event):
    the namespace hashed once, the UUID made from an int."""
    digest = _ID_HASH.copy()
    digest.update(":".join(map(str, parts)).encode())
    return uuid.UUID(int=int.from_bytes(digest.digest()[:16]) & _KEEP | _SET)


def _lead_facts(record: LeadRecord) -> dict[str, Any]:
    """What consumers (nurture's templates, reporting) need to know of the person."""
    return {
        "lead_id": record.id,
        "email": record.traits.get("email"),
        "traits": record.traits,
        "user_ids": record.user_ids,  # how its touchpoints name it, for consumers' look-ups
        "anonymous_ids": record.anonymous_ids,  # likewise (reporting's first touch)
    }


def _envelope(
    kind: str, record: LeadRecord, at: datetime, eid: uuid.UUID, **payload: Any
) -> Record:
    """The event encoded as `Record.of(Envelope(...))` would encode it, without building and
    validating the model (a few microseconds an event): its fields are already what Envelope
    accepts unchanged (a UUID, non-empty ids, aware datetimes); tests compare the bytes."""
    return encode_fields(
        id=eid,
        type=kind,
        workspace_id=record.workspace_id,
        lead_key=record.id,
        occurred_at=at,
        received_at=utcnow(),
        payload=payload,
    )


def lifecycle_changed(
    record: LeadRecord,
    *,
    from_stage: str | None,
    to_stage: str,
    reason: str,
    actor: str,
    at: datetime,
    eid: uuid.UUID,
    amount: float | None = None,
) -> Record:
    return _envelope(
        "lead.lifecycle_changed",
        record,
        at,
        eid,
        **_lead_facts(record),
        from_stage=from_stage,
        to_stage=to_stage,
        reason=reason,
        actor=actor,
        score=record.score,
        fit=record.fit,
        engagement=record.engagement,
        model_version=record.model_version,
        amount=amount,
    )


def scored(record: LeadRecord, at: datetime, eid: uuid.UUID) -> Record:
    return _envelope(
        "lead.scored",
        record,
        at,
        eid,
        **_lead_facts(record),
        score=record.score,
        probability=round(record.probability or 0.0, 6),
        fit=record.fit,
        engagement=record.engagement,
        model_version=record.model_version,
        previous_score=record.published_score,
        factors=[
            {"name": f["name"], "contribution": f["points"], "text": f["text"]}
            for f in record.factors
        ],
    )


def merged(record: LeadRecord, folded: list[str], at: datetime, eid: uuid.UUID) -> Record:
    return _envelope("lead.merged", record, at, eid, lead_id=record.id, merged_lead_ids=folded)


def stalled(record: LeadRecord, reason: str, at: datetime) -> Record:
    return _envelope(
        "lead.stalled",
        record,
        at,
        event_id(record.id, "stalled", record.stage, record.stage_entered_at),
        **_lead_facts(record),
        stage=record.stage,
        since=record.stage_entered_at.isoformat() if record.stage_entered_at else None,
        reason=reason,
    )


def erased(workspace_id: str, lead_id: str, erasure_id: str, at: datetime) -> Envelope:
    """`lead.erased`: scoring removed this lead on erasure `erasure_id` (rare: the model path)."""
    return Envelope(
        id=event_id("erased", erasure_id, lead_id),
        type="lead.erased",
        workspace_id=workspace_id,
        lead_key=lead_id,
        occurred_at=at,
        payload={"lead_id": lead_id, "erasure_id": erasure_id},
    )
