"""The fake unit of work against the contract the real one passes (tests/uow_contract.py;
the real one runs the same scenarios in tests/integration/test_uow_contract.py)."""

from __future__ import annotations

import inspect
import uuid

import pytest

from shared.db import UnitOfWork
from shared.events.codec import Record
from tests.fakes import FakeUnitOfWork
from tests.uow_contract import Scenario, event, params


class FakeHarness:
    def __init__(self) -> None:
        self.uow = FakeUnitOfWork()

    async def inbox(self) -> set[uuid.UUID]:
        return set(self.uow.inbox)

    async def outbox(self, topic: str) -> list[Record]:
        return self.uow.records(topic)


@pytest.mark.parametrize("scenario", params())
async def test_fake_unit_of_work(scenario: Scenario) -> None:
    await scenario(FakeHarness())


def test_the_fake_offers_what_the_real_one_offers_with_the_same_parameters() -> None:
    public = {n for n in dir(UnitOfWork) if not n.startswith("_")} | {"__aenter__", "__aexit__"}
    for name in public:
        real, fake = getattr(UnitOfWork, name), getattr(FakeUnitOfWork, name, None)
        assert fake is not None, f"FakeUnitOfWork lacks {name}"
        if callable(real):
            assert list(inspect.signature(fake).parameters) == list(
                inspect.signature(real).parameters
            ), name


async def test_the_fake_has_no_session_and_says_why() -> None:
    async with FakeUnitOfWork() as uow:
        with pytest.raises(RuntimeError, match="real UnitOfWork"):
            _ = uow.session


async def test_the_fake_reads_back_events_and_counts_transactions() -> None:
    uow = FakeUnitOfWork(inbox=[(seen := event(n=1)).id])
    fresh = event(n=2)
    async with uow:
        assert await uow.claim_batch([seen, fresh]) == [fresh]
        await uow.emit("leads", fresh)
    with pytest.raises(ValueError, match="no"):
        async with uow:
            raise ValueError("no")
    assert uow.events("leads") == [fresh]
    assert (uow.commits, uow.rollbacks) == (1, 1)
