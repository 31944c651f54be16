"""Publishing accepted touchpoints: answered only once Kafka acknowledged every one, with a
bound on what may be waiting so an outage turns into 503s instead of a growing buffer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka.errors import KafkaError

from services.ingest.domain.messages import Problem
from shared.bus import DeadLetter, DeadLetterSink, Publisher
from shared.bus.producer import send_all
from shared.events.codec import Record


class Unavailable(Exception):
    """Kafka did not acknowledge in time (or too much is already waiting): answer 503."""


class TouchpointPublisher:
    def __init__(
        self,
        publisher: Publisher,
        topic: str,
        deadletters: DeadLetterSink,
        *,
        ack_timeout: float,
        max_in_flight: int,
    ) -> None:
        self.publisher = publisher
        self.topic = topic
        self.deadletters = deadletters
        self.ack_timeout = ack_timeout
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def publish(self, records: Sequence[Record]) -> None:
        """Returns once Kafka holds every event (encoded envelopes, see `Record.of`); raises
        Unavailable otherwise."""
        if not records:
            return
        if self.in_flight + len(records) > self.max_in_flight:
            raise Unavailable(f"{self.in_flight} events already waiting for Kafka")
        self.in_flight += len(records)
        try:
            async with asyncio.timeout(self.ack_timeout):
                await send_all(self.publisher, self.topic, records)
        except (TimeoutError, KafkaError) as exc:
            raise Unavailable(f"Kafka did not acknowledge: {exc!r}") from exc
        finally:
            self.in_flight -= len(records)

    async def reject(
        self, workspace_id: str, rejected: Sequence[tuple[int, Any, list[Problem]]]
    ) -> None:
        """Rejected messages go to the dead-letter topic with their reasons."""
        letters = [
            DeadLetter.of_bytes(
                orjson.dumps(raw),
                service="ingest",
                reason=f"message {index} rejected: "
                + "; ".join(f"{p.field} {p.message}" for p in problems),
                error_type="ValidationError",
                key=workspace_id,
            )
            for index, raw, problems in rejected
        ]
        try:
            async with asyncio.timeout(self.ack_timeout):
                await asyncio.gather(
                    *(self.deadletters.put(letter, key=workspace_id.encode()) for letter in letters)
                )
        except (TimeoutError, KafkaError) as exc:
            raise Unavailable(f"Kafka did not acknowledge: {exc!r}") from exc
