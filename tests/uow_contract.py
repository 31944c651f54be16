"""What every unit of work promises its handlers, written once and run against both the
real one (tests/integration/test_uow_contract.py, PostgreSQL) and the fake
(tests/unit/test_uow_contract.py), so the fake cannot drift from the real thing.

A scenario gets a `Harness`: the unit of work under test (one instance, reused for each
transaction, as a service reuses its database) and a look at what it committed."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest

from shared.events import Envelope, decode
from shared.events.codec import Record, encode_fields

LEADS = "contract.lead-events"
EMAILS = "contract.email-events"


class Harness(Protocol):
    uow: Any  # UnitOfWork or FakeUnitOfWork: the same interface is the point

    async def inbox(self) -> set[uuid.UUID]:
        """Ids of the messages committed transactions claimed."""
        ...

    async def outbox(self, topic: str) -> list[Record]:
        """What committed transactions queued for `topic`, in order."""
        ...


Scenario = Callable[[Harness], Awaitable[None]]
SCENARIOS: list[Scenario] = []


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS.append(fn)
    return fn


def params() -> list[Any]:
    """The scenarios as pytest params, named after their functions."""
    return [pytest.param(s, id=s.__name__) for s in SCENARIOS]


class Boom(Exception):
    """Raised by a scenario inside `async with` to make the transaction fail."""


def event(lead: str = "lead-1", n: int = 0) -> Envelope:
    return Envelope(
        type="track",
        workspace_id="ws_contract",
        lead_key=lead,
        occurred_at=datetime(2026, 3, 1, 9, n % 60, tzinfo=UTC),
        payload={"message_id": f"{lead}-{n}", "event": "Paid", "properties": {"n": n}},
    )


@scenario
async def claims_unseen_ids_in_order_each_once(h: Harness) -> None:
    a, b, c = event(n=1), event(n=2), event(n=3)
    async with h.uow as uow:
        todo = await uow.claim_batch([b, a, b, c, a])  # a batch may carry a message twice
    assert [e.id for e in todo] == [b.id, a.id, c.id]
    assert await h.inbox() == {a.id, b.id, c.id}


@scenario
async def a_later_transaction_claims_only_what_was_never_claimed(h: Harness) -> None:
    a, b, c = event(n=1), event(n=2), event(n=3)
    async with h.uow as uow:
        await uow.claim_batch([a, b])
    async with h.uow as uow:
        todo = await uow.claim_batch([a, c, b])
    assert [e.id for e in todo] == [c.id]
    async with h.uow as uow:
        assert await uow.claim_batch([c, b, a]) == []


@scenario
async def a_redelivered_copy_is_the_same_message(h: Harness) -> None:
    a = event(n=1)
    copy = decode(Record.of(a).value)  # as it comes back from Kafka: equal, not identical
    async with h.uow as uow:
        await uow.claim_batch([a])
    async with h.uow as uow:
        assert await uow.claim_batch([copy]) == []


@scenario
async def a_second_claim_in_one_transaction_does_not_return_an_id_again(h: Harness) -> None:
    a, b = event(n=1), event(n=2)
    async with h.uow as uow:
        first = await uow.claim_batch([a])
        second = await uow.claim_batch([a, b])
    assert [e.id for e in first] == [a.id]
    assert [e.id for e in second] == [b.id]


@scenario
async def an_empty_batch_claims_nothing(h: Harness) -> None:
    async with h.uow as uow:
        assert await uow.claim_batch([]) == []
    assert await h.inbox() == set()


@scenario
async def events_are_published_only_on_commit_in_order_per_topic(h: Harness) -> None:
    one, two, three = event("lead-1", 1), event("lead-2", 2), event("lead-1", 3)
    async with h.uow as uow:
        await uow.emit(LEADS, one, two)
        await uow.emit(EMAILS, three)
        await uow.emit(LEADS, three)
        assert await h.outbox(LEADS) == []  # not before the commit
    assert await h.outbox(LEADS) == [Record.of(one), Record.of(two), Record.of(three)]
    assert await h.outbox(EMAILS) == [Record.of(three)]
    async with h.uow as uow:
        await uow.emit(LEADS, one)
    assert [decode(r.value).id for r in await h.outbox(LEADS)] == [one.id, two.id, three.id, one.id]


@scenario
async def an_encoded_record_goes_out_byte_for_byte(h: Harness) -> None:
    e = event(n=7)
    record = encode_fields(
        id=e.id,
        type=e.type,
        workspace_id=e.workspace_id,
        lead_key=e.lead_key,
        occurred_at=e.occurred_at,
        received_at=e.received_at,
        payload=e.payload,
    )
    async with h.uow as uow:
        await uow.emit(LEADS, record, e)
    assert await h.outbox(LEADS) == [record, Record.of(e)]
    assert decode(record.value).id == e.id


@scenario
async def emitting_nothing_publishes_nothing(h: Harness) -> None:
    async with h.uow as uow:
        await uow.emit(LEADS)
    assert await h.outbox(LEADS) == []


@scenario
async def an_exception_rolls_back_claims_and_events_and_goes_on(h: Harness) -> None:
    kept, lost = event(n=1), event(n=2)
    async with h.uow as uow:
        await uow.claim_batch([kept])
        await uow.emit(LEADS, kept)

    async def fail() -> None:
        async with h.uow as uow:
            assert [e.id for e in await uow.claim_batch([kept, lost])] == [lost.id]
            await uow.emit(LEADS, lost)
            await uow.emit(EMAILS, lost)
            raise Boom

    with pytest.raises(Boom):
        await fail()
    assert await h.inbox() == {kept.id}
    assert await h.outbox(LEADS) == [Record.of(kept)]
    assert await h.outbox(EMAILS) == []
    # Rolled back means never processed: a redelivery of `lost` is applied.
    async with h.uow as uow:
        assert [e.id for e in await uow.claim_batch([kept, lost])] == [lost.id]
    assert await h.inbox() == {kept.id, lost.id}


@scenario
async def outside_async_with_it_refuses_work(h: Harness) -> None:
    a = event(n=1)
    with pytest.raises(RuntimeError, match="outside `async with`"):
        await h.uow.claim_batch([a])
    with pytest.raises(RuntimeError, match="outside `async with`"):
        await h.uow.emit(LEADS, a)
    with pytest.raises(RuntimeError, match="outside `async with`"):
        _ = h.uow.session
    async with h.uow as uow:
        await uow.emit(LEADS, a)
    with pytest.raises(RuntimeError, match="outside `async with`"):
        await h.uow.emit(LEADS, a)  # nor after it
    assert await h.outbox(LEADS) == [Record.of(a)]
    assert await h.inbox() == set()
