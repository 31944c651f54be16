import asyncio
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka.structs import RecordMetadata

from services.ingest.adapters.publishing import TouchpointPublisher, Unavailable
from services.ingest.domain.messages import Problem
from shared.bus import DeadLetterSink
from shared.events import Envelope
from shared.events.codec import Record
from tests.fakes import FakePublisher


class SilentPublisher(FakePublisher):
    """Kafka that takes messages and never acknowledges them (an outage)."""

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None
    ) -> asyncio.Future[RecordMetadata]:
        self.sent.append((topic, key, value))
        return asyncio.get_running_loop().create_future()


def events(n: int) -> list[Record]:
    return [
        Record.of(
            Envelope(
                type="track",
                workspace_id="ws",
                lead_key=f"l{i}",
                occurred_at=datetime.now(UTC),
                payload={"message_id": str(i), "event": "e"},
            )
        )
        for i in range(n)
    ]


def publisher(fake: FakePublisher, max_in_flight: int = 100) -> TouchpointPublisher:
    return TouchpointPublisher(
        fake, "t", DeadLetterSink(fake, "dlq"), ack_timeout=0.2, max_in_flight=max_in_flight
    )


async def test_publish_returns_once_every_event_is_acknowledged() -> None:
    fake = FakePublisher()
    await publisher(fake).publish(events(3))
    assert len(fake.on("t")) == 3


async def test_no_acknowledgement_in_time_is_unavailable_and_frees_the_budget() -> None:
    tp = publisher(SilentPublisher())
    with pytest.raises(Unavailable, match="did not acknowledge"):
        await tp.publish(events(5))
    assert tp.in_flight == 0


async def test_too_much_waiting_is_refused_at_once_so_memory_stays_bounded() -> None:
    tp = publisher(SilentPublisher(), max_in_flight=10)
    waiting = asyncio.create_task(tp.publish(events(8)))
    await asyncio.sleep(0.05)
    with pytest.raises(Unavailable, match="8 events already waiting"):
        await tp.publish(events(3))
    with pytest.raises(Unavailable):
        await waiting


async def test_rejected_messages_become_dead_letters_with_their_reasons() -> None:
    fake = FakePublisher()
    await publisher(fake).reject(
        "ws", [(4, {"type": "nope"}, [Problem("type", "unknown type 'nope'")])]
    )
    (letter,) = [orjson.loads(v) for v in fake.on("dlq")]
    assert letter["reason"] == "message 4 rejected: type unknown type 'nope'"
    assert orjson.loads(letter["value"]) == {"type": "nope"}
