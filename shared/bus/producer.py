"""Kafka producer factory and the publisher the services use."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from shared.events import Envelope, encode, encode_key


def create_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    """Idempotent, acks=all, batched and compressed: callers await a batch of futures,
    never a send-and-wait per message."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        compression_type="lz4",
        request_timeout_ms=15_000,
    )


class Publisher(Protocol):
    """What handlers and relays need of a bus; fakes implement the same."""

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None
    ) -> asyncio.Future[RecordMetadata]: ...


class KafkaPublisher:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None
    ) -> asyncio.Future[RecordMetadata]:
        """Queue one record; the returned future resolves when Kafka acknowledged it."""
        future: asyncio.Future[RecordMetadata] = await self.producer.send(
            topic, value=value, key=key
        )
        return future


async def publish(publisher: Publisher, topic: str, envelopes: Iterable[Envelope]) -> None:
    """Publish events and return once Kafka acknowledged all of them."""
    futures = [await publisher.send(topic, encode(e), encode_key(e)) for e in envelopes]
    if futures:
        await asyncio.gather(*futures)
