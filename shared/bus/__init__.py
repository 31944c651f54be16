"""Kafka: producer factory, consumer runner, dead letters, topic admin."""

from shared.bus.admin import ensure_topics, topic_partitions
from shared.bus.consumer import BatchHandler, ConsumerRunner, Handler, create_consumer, per_message
from shared.bus.deadletter import DeadLetter, DeadLetterSink
from shared.bus.producer import KafkaPublisher, Publisher, create_producer, publish

__all__ = [
    "BatchHandler",
    "ConsumerRunner",
    "DeadLetter",
    "DeadLetterSink",
    "Handler",
    "KafkaPublisher",
    "Publisher",
    "create_consumer",
    "create_producer",
    "ensure_topics",
    "per_message",
    "publish",
    "topic_partitions",
]
