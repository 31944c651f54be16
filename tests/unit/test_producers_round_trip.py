"""Every producer's events survive the wire: built by the producer's own function, encoded as
it goes to Kafka, decoded by `shared.events.decode`, each validates as its type's model, with
no field the model does not declare (such a field reads as a silent None for consumers) and
the typed fields equal to what the producer was given. Together the producers cover every
type in EVENT_TYPES.

The fast encoders (ingest's `to_record`, scoring's `publishing`) are proven byte-identical to
`Record.of(Envelope(...))` in tests/unit/ingest/test_fast_encoding.py and
tests/unit/scoring/test_publishing.py; here they are only round-tripped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.ingest.domain import envelopes
from services.ingest.domain.engagement import CLICKED, OPENED, engagement_event
from services.ingest.domain.envelopes import Request, SimulatedSource
from services.ingest.domain.privacy import Erasure
from services.ingest.domain.workspaces import Workspace, state_event
from services.nurture.domain.delivery import DueSend
from services.nurture.domain.events import (
    SendOrigin,
    email_event,
    enrollment_event,
    sent_event,
    unsubscribed_event,
)
from services.nurture.domain.events import event_id as nurture_event_id
from services.nurture.domain.unsubscribe import UnsubscribeToken, unsubscribed_event_id
from services.scoring.domain import publishing
from services.scoring.domain.features import FeatureState
from services.scoring.domain.records import LeadRecord
from shared.email_links import EmailLink
from shared.events import EVENT_TYPES, Envelope, decode
from shared.events.codec import Record
from shared.events.types import LeadScored

NOW = datetime(2026, 5, 1, 12, 0, 7, 123456, tzinfo=UTC)
EID = uuid.UUID("7d0f6a52-41a6-4c2e-9b7e-0a1b2c3d4e5f")
WS = "ws_1"

# Extra (undeclared) payload fields a producer is documented to add, by case name: none.
DOCUMENTED_EXTRAS: dict[str, set[str]] = {}


@dataclass(frozen=True)
class Case:
    """One producer call: what it builds, the type it must be, and typed fields to check."""

    name: str
    type: str
    build: Callable[[], Envelope | Record]
    expect: dict[str, Any]
    lead_key: str


def _wire(event: Envelope | Record) -> Record:
    """The event as it goes to Kafka: the outbox and the publishers send `Record.of` of an
    envelope (shared/db/uow.py), or the fast encoders' record as it is."""
    return event if isinstance(event, Record) else Record.of(event)


# --- ingest: touchpoints, from Segment messages ---
REQUEST = Request(received_at=NOW, ip="203.0.113.9", user_agent="Mozilla/5.0")
SOURCE = SimulatedSource(WS)
TOUCH = {
    "anonymousId": "anon-1",
    "userId": "u-1",
    "timestamp": "2026-05-01T11:59:58Z",
    "sentAt": "2026-05-01T11:59:59Z",
    "context": {"traits": {"email": "ada@acme.example"}},
    "integrations": {"All": True},
}
SEGMENT: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # type: (the message's own fields, typed fields expected besides the common ones)
    "track": (
        {"event": "Viewed Pricing", "properties": {"plan": "pro"}},
        {"event": "Viewed Pricing", "properties": {"plan": "pro"}},
    ),
    "identify": (
        {"traits": {"email": "ada@acme.example"}},
        {"traits": {"email": "ada@acme.example"}},
    ),
    "page": (
        {"name": "Pricing", "category": "Docs", "properties": {"path": "/pricing"}},
        {"name": "Pricing", "category": "Docs", "properties": {"path": "/pricing"}},
    ),
    "screen": ({"name": "Home", "properties": {"x": 1}}, {"name": "Home", "category": None}),
    "group": ({"groupId": 42, "traits": {"n": 3}}, {"group_id": "42", "traits": {"n": 3}}),
    "alias": ({"previousId": "anon-0"}, {"previous_id": "anon-0"}),
}
COMMON = {
    "anonymous_id": "anon-1",
    "user_id": "u-1",
    "integrations": {"All": True},
    "original_timestamp": "2026-05-01T11:59:58Z",
}


def _touchpoint_cases() -> list[Case]:
    cases = []
    for kind, (fields, expect) in SEGMENT.items():
        raw = {**TOUCH, **fields, "type": kind, "messageId": f"m-{kind}"}
        typed = {**COMMON, **expect, "message_id": f"m-{kind}", "sent_at": raw["sentAt"]}
        cases.append(
            Case(
                f"ingest.to_record:{kind}",
                kind,
                lambda raw=raw: envelopes.to_record(
                    raw, kind=None, workspace=SOURCE, request=REQUEST
                ),
                typed,
                "anon-1",
            )
        )
    # A batch's sentAt, when the message has none; the message's type given by the route.
    raw = {k: v for k, v in TOUCH.items() if k != "sentAt"}
    raw = {**raw, "event": "Signed Up", "messageId": "m-batch"}
    cases.append(
        Case(
            "ingest.to_record:batch-sent-at",
            "track",
            lambda: envelopes.to_record(
                raw,
                kind="track",
                workspace=SOURCE,
                request=REQUEST,
                batch_sent_at="2026-05-01T12:00:00Z",
            ),
            {**COMMON, "event": "Signed Up", "sent_at": "2026-05-01T12:00:00Z"},
            "anon-1",
        )
    )
    simulated = {"type": "page", "userId": "u-2", "messageId": "m-sim", "name": "Home"}
    cases.append(
        Case(
            "ingest.envelopes_of:page",
            "page",
            lambda: envelopes.envelopes_of([simulated], WS)[0],
            {"user_id": "u-2", "message_id": "m-sim", "name": "Home", "sent_at": None},
            "u-2",
        )
    )
    return cases


LINK = EmailLink(WS, "anon-1", "ld_1", "snd_1", "seq_1", "welcome")
CLICK = EmailLink(WS, "anon-1", "ld_1", "snd_1", "seq_1", "welcome", "https://acme.example/x")
ENGAGED = {"lead_id": "ld_1", "send_id": "snd_1", "sequence_id": "seq_1", "step_id": "welcome"}


def _engagement(kind: str, link: EmailLink) -> Envelope:
    return engagement_event(
        kind, link, ip="203.0.113.77", user_agent="Mail/1", ip_truncated=True, now=NOW
    )


ERASURE = Erasure.new("secret", WS, "u-1", " Ada@Acme.example ")
WORKSPACE = Workspace(WS, "Acme", ["https://acme.example"], True, NOW)

INGEST = [
    *_touchpoint_cases(),
    Case(
        "ingest.engagement_event:opened",
        OPENED,
        lambda: _engagement(OPENED, LINK),
        {**ENGAGED, "ip": "203.0.113.0", "user_agent": "Mail/1"},
        "anon-1",
    ),
    Case(
        "ingest.engagement_event:clicked",
        CLICKED,
        lambda: _engagement(CLICKED, CLICK),
        {**ENGAGED, "url": "https://acme.example/x", "ip": "203.0.113.0"},
        "anon-1",
    ),
    Case(
        "ingest.Erasure.event",
        "privacy.erasure_requested",
        lambda: ERASURE.event(NOW),
        {"erasure_id": ERASURE.id, "user_id": "u-1", "email": "ada@acme.example"},
        "u-1",
    ),
    Case(
        "ingest.state_event",
        "workspace.changed",
        lambda: state_event(WORKSPACE, [("write", "h-w"), ("api", "h-a"), ("write", "h-w2")], NOW),
        {
            "name": "Acme",
            "write_key_hashes": ["h-w", "h-w2"],
            "api_key_hashes": ["h-a"],
            "allowed_origins": ["https://acme.example"],
            "truncate_ip": True,
            "deleted": False,
        },
        WS,
    ),
]


# --- scoring: lead events ---
ENTERED = NOW - timedelta(days=9)
LEAD = LeadRecord(
    id="ld_1",
    workspace_id=WS,
    traits={"email": "ada@acme.example", "company": "Acme"},
    features=FeatureState(),
    first_seen_at=NOW - timedelta(days=30),
    last_seen_at=NOW,
    stage="mql",
    stage_entered_at=ENTERED,
    score=71,
    probability=0.4271828,
    fit=60,
    engagement=80,
    model_version="default-1",
    factors=[{"name": "pricing", "points": 12.5, "text": "viewed pricing: +12"}],
    published_score=65,
    user_ids=["u-1"],
    anonymous_ids=["anon-1"],
)
FACTS = {
    "lead_id": "ld_1",
    "email": "ada@acme.example",
    "traits": LEAD.traits,
    "user_ids": ["u-1"],
    "anonymous_ids": ["anon-1"],
}

SCORING = [
    Case(
        "scoring.scored",
        "lead.scored",
        lambda: publishing.scored(LEAD, NOW, EID),
        {
            **FACTS,
            "score": 71,
            "probability": 0.427183,
            "fit": 60,
            "engagement": 80,
            "model_version": "default-1",
            "previous_score": 65,
        },
        "ld_1",
    ),
    Case(
        "scoring.lifecycle_changed",
        "lead.lifecycle_changed",
        lambda: publishing.lifecycle_changed(
            LEAD,
            from_stage="lead",
            to_stage="mql",
            reason="score 71 >= 70",
            actor="auto",
            at=NOW,
            eid=EID,
            amount=1200.5,
        ),
        {
            **FACTS,
            "from_stage": "lead",
            "to_stage": "mql",
            "reason": "score 71 >= 70",
            "actor": "auto",
            "score": 71,
            "fit": 60,
            "engagement": 80,
            "model_version": "default-1",
            "amount": 1200.5,
        },
        "ld_1",
    ),
    Case(
        "scoring.merged",
        "lead.merged",
        lambda: publishing.merged(LEAD, ["ld_2", "ld_3"], NOW, EID),
        {"lead_id": "ld_1", "merged_lead_ids": ["ld_2", "ld_3"]},
        "ld_1",
    ),
    Case(
        "scoring.stalled",
        "lead.stalled",
        lambda: publishing.stalled(LEAD, "no activity for 9 days", NOW),
        {**FACTS, "stage": "mql", "since": ENTERED.isoformat(), "reason": "no activity for 9 days"},
        "ld_1",
    ),
    Case(
        "scoring.erased",
        "lead.erased",
        lambda: publishing.erased(WS, "ld_1", "er_1", NOW),
        {"lead_id": "ld_1", "erasure_id": "er_1"},
        "ld_1",
    ),
]


# --- nurture: email and enrollment events ---
SEND = DueSend(
    id="snd_1",
    workspace_id=WS,
    lead_id="ld_1",
    sequence_id="seq_1",
    version=3,
    step_id="welcome",
    variant_id="b",
    template_id="tpl_1",
    to_email="ada@acme.example",
    message_id="<snd_1@leadflow>",
    deadline=NOW + timedelta(days=1),
    attempts=1,
)
SENT = {
    "lead_id": "ld_1",
    "send_id": "snd_1",
    "sequence_id": "seq_1",
    "step_id": "welcome",
    "version": 3,
    "variant_id": "b",
    "template_id": "tpl_1",
}
TOKEN = UnsubscribeToken(WS, "ld_1", "Ada@Acme.example", "snd_1")
ORIGIN = SendOrigin(sequence_id="seq_1", version=3, step_id="welcome", variant_id="b")
UNSUBSCRIBED = {k: v for k, v in SENT.items() if k != "template_id"}


def _enrollment(kind: str, **payload: Any) -> Envelope:
    # As services/nurture/store/enrollments.py calls it (start, end).
    return enrollment_event(
        kind, WS, "ld_1", NOW, enrollment_id="enr_1", sequence_id="seq_1", version=3, **payload
    )


ENROLLED = {"lead_id": "ld_1", "enrollment_id": "enr_1", "sequence_id": "seq_1", "version": 3}

NURTURE = [
    Case(
        "nurture.sent_event",
        "email.sent",
        lambda: sent_event(SEND, NOW, to="ada@acme.example", subject="Welcome"),
        {
            **SENT,
            "to": "ada@acme.example",
            "subject": "Welcome",
            "message_id": "<snd_1@leadflow>",
            "outcome_unknown": False,
        },
        "ld_1",
    ),
    Case(
        "nurture.sent_event:outcome-unknown",  # as the delivery worker's recovery calls it
        "email.sent",
        lambda: sent_event(SEND, NOW, to="ada@acme.example", subject="", outcome_unknown=True),
        {**SENT, "subject": "", "outcome_unknown": True},
        "ld_1",
    ),
    Case(
        "nurture.email_event:bounced",  # as the delivery worker calls it
        "email.bounced",
        lambda: email_event(
            "email.bounced", SEND, NOW, kind="hard", detail="550 no such user", to="a@b.example"
        ),
        {**SENT, "kind": "hard", "detail": "550 no such user", "to": "a@b.example"},
        "ld_1",
    ),
    Case(
        "nurture.unsubscribed_event",
        "email.unsubscribed",
        lambda: unsubscribed_event(TOKEN, "ada@acme.example", ORIGIN, NOW),
        {**UNSUBSCRIBED, "email": "ada@acme.example", "template_id": None},
        "ld_1",
    ),
    Case(
        "nurture.unsubscribed_event:send-unknown",
        "email.unsubscribed",
        lambda: unsubscribed_event(TOKEN, "ada@acme.example", None, NOW),
        {"send_id": "snd_1", "sequence_id": None, "version": None, "email": "ada@acme.example"},
        "ld_1",
    ),
    Case(
        "nurture.enrollment_event:started",
        "enrollment.started",
        lambda: _enrollment("enrollment.started", trigger="evt:1"),
        {**ENROLLED, "trigger": "evt:1", "reason": None},
        "ld_1",
    ),
    Case(
        "nurture.enrollment_event:exited",
        "enrollment.exited",
        lambda: _enrollment("enrollment.exited", reason="stage:sql"),
        {**ENROLLED, "reason": "stage:sql", "trigger": None},
        "ld_1",
    ),
    Case(
        "nurture.enrollment_event:completed",
        "enrollment.completed",
        lambda: _enrollment("enrollment.completed", reason=None),
        {**ENROLLED, "reason": None},
        "ld_1",
    ),
]

CASES = [*INGEST, *SCORING, *NURTURE]


def test_the_producers_cover_every_event_type() -> None:
    assert {case.type for case in CASES} == set(EVENT_TYPES)
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_an_event_decodes_as_its_type_with_every_field_declared(case: Case) -> None:
    built = case.build()
    record = _wire(built)
    decoded = decode(record.value)
    assert (decoded.type, decoded.workspace_id, decoded.lead_key) == (case.type, WS, case.lead_key)
    assert record.key == f"{WS}:{case.lead_key}".encode()
    if isinstance(built, Envelope):
        assert decoded == built
    data = decoded.data
    assert type(data) is EVENT_TYPES[case.type]
    assert set(data.model_extra or {}) == DOCUMENTED_EXTRAS.get(case.name, set())
    assert {name: getattr(data, name) for name in case.expect} == case.expect


def test_a_scored_events_factors_are_typed() -> None:
    data = decode(publishing.scored(LEAD, NOW, EID).value).data_as(LeadScored)
    factor = data.factors[0]
    assert (factor.name, factor.contribution, factor.text) == (
        "pricing",
        12.5,
        "viewed pricing: +12",
    )
    assert factor.model_extra == {}


def test_ids_are_the_producers_own() -> None:
    """Ingest derives ids from the messageId, scoring from what caused the event, nurture
    from what the event is about (so repeats are dropped by consumers' inboxes): the wire
    keeps them."""

    def wired_id(event: Envelope | Record) -> uuid.UUID:
        return decode(_wire(event).value).id

    raw = {**TOUCH, "type": "identify", "messageId": "m-1"}
    touch = envelopes.to_record(raw, kind=None, workspace=SOURCE, request=REQUEST)
    assert str(wired_id(touch)) == envelopes.event_id(WS, "m-1")
    assert wired_id(publishing.scored(LEAD, NOW, EID)) == EID
    erased = publishing.erased(WS, "ld_1", "er_1", NOW)
    assert wired_id(erased) == publishing.event_id("erased", "er_1", "ld_1")
    sent = sent_event(SEND, NOW, to="a@b.example", subject="s")
    assert wired_id(sent) == nurture_event_id("email.sent", "snd_1")
    unsubscribed = unsubscribed_event(TOKEN, "ada@acme.example", None, NOW)
    assert wired_id(unsubscribed) == unsubscribed_event_id(WS, "ada@acme.example")
    started = _enrollment("enrollment.started", trigger="evt:1")
    assert wired_id(started) == wired_id(_enrollment("enrollment.started", trigger="evt:2"))
