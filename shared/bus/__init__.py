"""Kafka: producer factory, consumer runner, dead letters, topic admin."""

from shared.bus.admin import ensure_topics
from shared.bus.consumer import ConsumerRunner, Handler, create_consumer
from shared.bus.deadletter import DeadLetter, DeadLetterSink
from shared.bus.producer import KafkaPublisher, Publisher, create_producer, publish

__all__ = [
    "ConsumerRunner",
    "DeadLetter",
    "DeadLetterSink",
    "Handler",
    "KafkaPublisher",
    "Publisher",
    "create_consumer",
    "create_producer",
    "ensure_topics",
    "publish",
]
