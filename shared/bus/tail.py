"""Follow a topic without joining a consumer group (for people and scripts, not services)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from shared.bus.admin import topic_partitions


async def tail(
    bootstrap_servers: str, topic: str, *, from_beginning: bool, idle_exit_ms: int | None = None
) -> AsyncIterator[ConsumerRecord[Any, Any]]:
    """Records of every partition as they arrive; with idle_exit_ms, stop after that much quiet."""
    partitions = await topic_partitions(bootstrap_servers, topic)
    if not partitions:
        raise LookupError(f"no topic {topic}")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        while True:
            batches = await consumer.getmany(timeout_ms=idle_exit_ms or 1000)
            if not batches and idle_exit_ms is not None:
                return
            for records in batches.values():
                for record in records:
                    yield record
    finally:
        await consumer.stop()
