"""A publisher whose aiokafka producer failed for good starts a new one on its next send."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.bus import KafkaPublisher


class FakeSender:
    def __init__(self, task: asyncio.Task[None]) -> None:
        self.sender_task = task


class FakeProducer:
    """The parts of AIOKafkaProducer the publisher touches."""

    def __init__(self, dead: bool) -> None:
        self.dead = dead
        self.started = self.stopped = False
        self.sent: list[tuple[str, bytes]] = []

    async def start(self) -> None:
        async def routine() -> None:
            if self.dead:
                raise RuntimeError("OutOfOrderSequenceNumber")
            await asyncio.sleep(3600)

        task = asyncio.create_task(routine())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # as aiokafka does
        self._sender = FakeSender(task)
        await asyncio.sleep(0)
        self.started = True

    async def stop(self) -> None:
        self._sender.sender_task.cancel()
        self.stopped = True

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        self.sent.append((topic, value))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_a_broken_producer_is_replaced_and_the_send_goes_through_the_new_one() -> None:
    broken = FakeProducer(dead=True)
    await broken.start()
    fresh = FakeProducer(dead=False)
    publisher = KafkaPublisher(broken, renew=lambda: fresh)  # type: ignore[arg-type,return-value]
    assert publisher.broken()

    await publisher.send("t", b"v")

    assert (publisher.producer, publisher.renewals) == (fresh, 1)
    assert fresh.started
    assert broken.stopped
    assert fresh.sent == [("t", b"v")]
    assert broken.sent == []
    assert not publisher.broken()
    await fresh.stop()


async def test_a_healthy_producer_or_one_without_renewal_is_kept() -> None:
    healthy = FakeProducer(dead=False)
    await healthy.start()
    publisher = KafkaPublisher(healthy, renew=lambda: FakeProducer(dead=False))  # type: ignore[arg-type,return-value]
    await publisher.send("t", b"v")
    assert (publisher.producer, publisher.renewals) == (healthy, 0)
    await healthy.stop()

    broken = FakeProducer(dead=True)
    await broken.start()
    plain = KafkaPublisher(broken)  # type: ignore[arg-type]
    await plain.send("t", b"v")  # nothing to renew with: the failure stays the caller's
    assert plain.producer is broken
