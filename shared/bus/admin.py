"""Topic creation at start-up, with the configured partitions."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaClient, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events import Topics

log = logging.getLogger(__name__)


async def ensure_topics(
    bootstrap_servers: str, topics: Topics, *, partitions: int, replication_factor: int
) -> list[str]:
    """Create the LeadFlow topics that do not exist yet; returns the ones it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="leadflow-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, partitions, replication_factor, topic_configs=topics.config(name))
            for name in topics.all()
            if name not in existing
        ]
        if not missing:
            return []
        response = await admin.create_topics(missing)
        created = []
        for name, code, *_ in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:  # a concurrent start created it first
                raise RuntimeError(f"could not create topic {name}: error code {code}")
        log.info("created topics", extra={"topics": created})
        return created
    finally:
        await admin.close()


async def topic_partitions(bootstrap_servers: str, topic: str) -> list[TopicPartition]:
    """The topic's partitions, straight from the cluster's metadata (empty if no such topic)."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers)
    try:
        await client.bootstrap()
        parts = (await client.fetch_all_metadata()).partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in sorted(parts)]
    finally:
        await client.close()
