"""Reporting's consumer: which projection applies each event type, what is claimed in the
inbox, and the order a poll is applied in (a fake unit of work, recording projections)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.reporting import handlers
from services.reporting.handlers import (
    ENROLLMENTS,
    ERASURES,
    HANDLERS,
    LEADS,
    SENDS,
    TOUCHES,
    Projection,
    apply_and_commit,
    apply_events,
    batches,
    route,
)
from shared.events import (
    EMAIL_TYPES,
    ENROLLMENT_TYPES,
    EVENT_TYPES,
    LEAD_TYPES,
    TOUCHPOINT_TYPES,
    Envelope,
)
from tests.unit.reporting.events import email, enrollment, event, merged, moved, page


class FakeSession:
    def __init__(self) -> None:
        self.info: dict[str, Any] = {}


class FakeUow:
    """The inbox as a set of ids; entering and leaving recorded."""

    def __init__(self, seen: Sequence[Envelope] = ()) -> None:
        self.session = FakeSession()
        self.seen = {e.id for e in seen}
        self.claims: list[list[Envelope]] = []
        self.entered = self.committed = False

    async def claim_batch(self, envelopes: Sequence[Envelope]) -> list[Envelope]:
        self.claims.append(list(envelopes))
        fresh = [e for e in envelopes if e.id not in self.seen]
        self.seen |= {e.id for e in fresh}
        return fresh

    async def __aenter__(self) -> FakeUow:
        self.entered = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.committed = exc == (None, None, None)


class Recorder:
    """Projections that record what they were given, in the order they were called."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Envelope]]] = []

    def projection(self, like: Projection) -> Projection:
        async def apply(session: Any, events: Sequence[Envelope], pseudonymize: Any) -> None:
            assert pseudonymize is same_key
            self.calls.append((like.name, list(events)))

        return Projection(like.name, apply, claimed=like.claimed)

    def handlers(self) -> dict[str, Projection]:
        fakes = {p: self.projection(p) for p in dict.fromkeys(HANDLERS.values())}
        return {t: fakes[p] for t, p in HANDLERS.items()}


def same_key(ws: str, key: str) -> str:
    return key


def test_every_event_type_but_workspace_changes_has_its_projection() -> None:
    ignored = {"workspace.changed", "privacy.erasure_requested"}
    assert set(HANDLERS) == set(EVENT_TYPES) - ignored
    assert {HANDLERS[t] for t in LEAD_TYPES - {"lead.erased"}} == {LEADS}
    assert HANDLERS["lead.erased"] is ERASURES
    assert {HANDLERS[t] for t in TOUCHPOINT_TYPES} == {TOUCHES}
    assert {HANDLERS[t] for t in ENROLLMENT_TYPES} == {ENROLLMENTS}
    # Opens and clicks are touchpoints (which also reach their send); the rest are sends.
    opens = {"email.opened", "email.clicked"}
    assert {HANDLERS[t] for t in opens} == {TOUCHES}
    assert {HANDLERS[t] for t in EMAIL_TYPES - opens} == {SENDS}


def test_projections_apply_in_order_and_only_touches_skip_the_inbox() -> None:
    order = list(dict.fromkeys(HANDLERS.values()))
    assert order == [LEADS, TOUCHES, SENDS, ENROLLMENTS, ERASURES]
    assert [p for p in order if not p.claimed] == [TOUCHES]


def test_a_poll_is_routed_claimable_in_poll_order_touches_once_each() -> None:
    touch = page()
    lead, sent, started = (
        moved("ld_1", "mql"),
        email("email.sent", "s1"),
        enrollment("enrollment.started", "en_1"),
    )
    workspace = event("workspace.changed", {"name": "Acme"})
    claimable, unclaimed = route([touch, lead, workspace, sent, touch, started])
    assert claimable == [lead, sent, started]
    assert unclaimed == {TOUCHES: [touch]}


def test_claimed_events_join_their_projection_in_the_map_order() -> None:
    touch, lead, erased = (
        page(),
        moved("ld_1", "sql"),
        event("lead.erased", {"lead_id": "ld_1", "erasure_id": "e"}),
    )
    sent = email("email.sent", "s1")
    out = batches([erased, sent, lead], {TOUCHES: [touch]})
    assert out == [(LEADS, [lead]), (TOUCHES, [touch]), (SENDS, [sent]), (ERASURES, [erased])]
    assert batches([], {}) == []


async def test_a_poll_applies_new_events_once_and_every_touch() -> None:
    old_lead, new_lead = moved("ld_1", "lead"), moved("ld_1", "mql")
    touch = page()
    opened = email("email.opened", "s1")
    started = enrollment("enrollment.started", "en_1")
    # The touch was seen before too: `touches` is its inbox, so it is still handed over.
    uow = FakeUow(seen=[old_lead, touch])
    recorder = Recorder()
    poll = [touch, old_lead, opened, new_lead, started, touch]
    await apply_events(
        uow,  # type: ignore[arg-type]
        poll,
        pseudonymize=same_key,
        handlers=recorder.handlers(),
    )
    assert uow.claims == [[old_lead, new_lead, started]]  # one statement, touches left out
    assert recorder.calls == [
        ("leads", [new_lead]),
        ("touches", [touch, opened]),
        ("enrollments", [started]),
    ]


async def test_a_poll_of_nothing_new_applies_nothing() -> None:
    lead = merged("ld_1", "ld_2")
    uow, recorder = FakeUow(seen=[lead]), Recorder()
    await apply_events(
        uow,  # type: ignore[arg-type]
        [lead, event("workspace.changed", {"name": "Acme"})],
        pseudonymize=same_key,
        handlers=recorder.handlers(),
    )
    assert recorder.calls == []


async def test_the_consumer_entry_applies_the_poll_in_one_transaction(monkeypatch: Any) -> None:
    seen: list[Any] = []

    async def fake_apply(uow: Any, envelopes: Sequence[Envelope], *, pseudonymize: Any) -> None:
        seen.append((uow.entered, list(envelopes)))

    monkeypatch.setattr(handlers, "apply_events", fake_apply)
    uow, poll = FakeUow(), [page()]
    await apply_and_commit(uow, poll, pseudonymize=same_key)  # type: ignore[arg-type]
    assert seen == [(True, poll)]
    assert uow.committed
