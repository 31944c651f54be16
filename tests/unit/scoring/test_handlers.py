"""Scoring's HANDLERS map and the per-type decisions of pass 1: no servers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.scoring import handlers
from services.scoring.domain.features import FeatureState
from services.scoring.domain.identity import Identifier
from services.scoring.domain.records import Directory, LeadRecord
from shared.errors import PermanentError
from shared.events import EMAIL_TYPES, EVENT_TYPES, TOUCHPOINT_TYPES, Envelope
from shared.events.codec import typed_payload

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)


def envelope(kind: str, **payload: object) -> Envelope:
    e = Envelope(type=kind, workspace_id="ws", lead_key="k", occurred_at=T0, payload=dict(payload))
    typed_payload(e)  # as decoding does
    return e


def test_every_event_type_has_a_handling_and_behaviour_is_the_touchpoints_and_emails() -> None:
    assert set(handlers.HANDLERS) <= set(EVENT_TYPES)
    assert set(handlers.BEHAVIOURS) == TOUCHPOINT_TYPES | EMAIL_TYPES
    assert handlers.HANDLERS["privacy.erasure_requested"] == "erasure"
    assert handlers.HANDLERS["enrollment.started"] == "skip"
    assert handlers.HANDLERS["track"] is handlers.TOUCHPOINT
    assert handlers.HANDLERS["email.clicked"] is handlers.EMAIL


def test_a_touchpoint_needs_its_identifiers_an_email_event_its_lead() -> None:
    track = envelope("track", message_id="m", user_id="u1", anonymous_id="a1", event="X")
    ids, lead_id = handlers.BEHAVIOURS["track"].needs(track)
    assert lead_id is None
    assert ids == [Identifier("user", "u1"), Identifier("anonymous", "a1")]
    opened = envelope("email.opened", lead_id="ld_9", send_id="s")
    assert handlers.BEHAVIOURS["email.opened"].needs(opened) == ([], "ld_9")


def test_a_touchpoint_without_identifiers_is_refused() -> None:
    e = envelope("page", message_id="m")
    with pytest.raises(PermanentError, match="no identifier"):
        handlers.place_touchpoint(Directory(), e, [])


def test_a_touchpoint_creates_its_lead_and_finds_it_again() -> None:
    directory = Directory()
    e = envelope("page", message_id="m", anonymous_id="a1")
    ids = [Identifier("anonymous", "a1")]
    record, folded = handlers.place_touchpoint(directory, e, ids)
    assert record.is_new
    assert folded == []
    again, _ = handlers.place_touchpoint(directory, envelope("page", message_id="n"), ids)
    assert again is record


def _known(lead_id: str, workspace_id: str = "ws") -> Directory:
    directory = Directory()
    directory.records[lead_id] = LeadRecord(
        id=lead_id,
        workspace_id=workspace_id,
        traits={},
        features=FeatureState(),
        first_seen_at=T0,
        last_seen_at=T0,
    )
    return directory


def test_an_email_event_applies_to_its_known_lead_only() -> None:
    e = envelope("email.clicked", lead_id="ld_1", send_id="s", url="https://x.example")
    record, folded = handlers.place_email(_known("ld_1"), e, [])
    assert record.id == "ld_1"
    assert folded == []
    with pytest.raises(PermanentError, match="unknown lead 'ld_1'"):
        handlers.place_email(Directory(), e, [])
    with pytest.raises(PermanentError, match="unknown lead"):
        handlers.place_email(_known("ld_1", workspace_id="other"), e, [])


def test_what_an_event_tells_of_the_person() -> None:
    identify = envelope("identify", message_id="m", user_id="u", traits={"title": "VP"})
    assert handlers.traits_of(identify) == {"title": "VP"}
    group = envelope("group", message_id="m", user_id="u", group_id="g1", traits={"size": 5})
    assert handlers.traits_of(group) == {"company": {"id": "g1", "size": 5}}
    assert handlers.traits_of(envelope("track", message_id="m", user_id="u", event="X")) == {}


def test_a_timeline_row_leaves_out_context_and_integrations() -> None:
    e = envelope("track", message_id="m", user_id="u", event="X", context={"ip": "1.2.3.4"})
    directory = _known("ld_1")
    step = handlers.Step(
        record=directory.records["ld_1"], envelope=e, vector=None, identified=True, folded=[]
    )  # type: ignore[arg-type]
    row = handlers._timeline_row(step)
    assert row[:4] == (e.id, "ws", "ld_1", "track")
    assert b"ip" not in row[5].encode()
    assert '"event":"X"' in row[5]
    assert isinstance(row[0], uuid.UUID)
