"""Poison messages on every topic, read by the real services' consumers (all four services
in-process, tests/integration/stack.py): bytes that are not JSON, JSON that is not an
envelope, a known type with a payload that does not fit it, an unknown type. Each lands in
the dead-letter topic once per consuming service with its reason, and a good message behind
them on the same partition is applied (the partition does not stall).

The consumer runner's own dead-letter path is tested on a toy handler in
test_consumer_exactly_once.py; this is the same promise kept by each service's wiring."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.store.tables import touches
from shared.events import Envelope, encode, utcnow
from tests.integration.hostile.conftest import Tenants
from tests.integration.support import read_topic, wait_for

# Which services read each topic (consumer groups; every service follows the workspaces).
READERS = {
    "touchpoints": {"scoring", "nurture", "reporting"},
    "lead-events": {"nurture", "reporting"},
    "email-events": {"scoring", "nurture", "reporting"},
    "workspaces": {"ingest", "scoring", "nurture", "reporting"},
}


def _good(topic: str, workspace_id: str, lead_id: str, key: str) -> Envelope:
    """A message each reader applies (an email event must be about a lead scoring knows)."""
    tag = uuid.uuid4().hex[:8]
    payloads: dict[str, tuple[str, dict[str, Any]]] = {
        "touchpoints": (
            "identify",
            {"message_id": tag, "user_id": f"u-{tag}", "traits": {"email": f"{tag}@a.example"}},
        ),
        "lead-events": (
            "lead.scored",
            {"lead_id": lead_id, "score": 42, "probability": 0.42, "model_version": "m1"},
        ),
        "email-events": (
            "email.sent",
            {"lead_id": lead_id, "send_id": tag, "to": f"{tag}@a.example", "subject": "Hi"},
        ),
        "workspaces": ("workspace.changed", {"name": f"poison-{tag}"}),
    }
    kind, payload = payloads[topic]
    return Envelope(
        type=kind,
        workspace_id=f"ws_{tag}" if topic == "workspaces" else workspace_id,
        lead_key=key,
        occurred_at=utcnow(),
        payload=payload,
    )


def _poisons(good: Envelope) -> dict[str, bytes]:
    valid = good.model_dump(mode="json")
    wrong_payload = {**valid, "id": str(uuid.uuid4()), "payload": {"unexpected": True}}
    if good.type == "workspace.changed":
        wrong_payload["payload"] = {"name": ["not", "a", "string"]}
    return {
        "not JSON": b"\xff\xfe\x00 not json at all",
        "JSON, not an envelope": orjson.dumps({"hello": "world", "type": good.type}),
        "payload does not fit its type": orjson.dumps(wrong_payload),
        "unknown type": orjson.dumps({**valid, "id": str(uuid.uuid4()), "type": "teleported"}),
    }


async def _applied(tenants: Tenants, service: str, good: Envelope, topic: str) -> bool:
    app = tenants.stack.apps[service]
    if topic == "workspaces":
        return app.state.runtime.directory.get(good.workspace_id) is not None

    async def in_inbox() -> bool:
        runtime = app.state.runtime
        engine: AsyncEngine = runtime.engine
        # Reporting keeps touchpoints by id in `touches`, their inbox (docs/decisions/0037).
        seen = (
            select(touches.c.id).where(touches.c.id == good.id)
            if (service, topic) == ("reporting", "touchpoints")
            else select(runtime.inbox.c.message_id).where(runtime.inbox.c.message_id == good.id)
        )
        async with engine.connect() as conn:
            found = await conn.scalar(seen)
        return found is not None

    return bool(tenants.stack.run(in_inbox()))


async def test_poison_messages_are_dead_lettered_and_the_partition_flows(
    tenants: Tenants, bootstrap: str
) -> None:
    stack = tenants.stack
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent: dict[tuple[str, int, int], str] = {}  # (topic, partition, offset) -> poison kind
    goods: dict[str, Envelope] = {}
    try:
        for short in READERS:
            topic = f"{stack.topics.prefix}.{short}"
            key = f"poison-{short}-{uuid.uuid4().hex[:6]}"
            good = _good(short, tenants.a.id, tenants.a_objects.ids["lead_id"], key)
            goods[short] = good
            for kind, value in _poisons(good).items():
                meta = await producer.send_and_wait(topic, value, key=key.encode())
                sent[(topic, meta.partition, meta.offset)] = kind
            # Behind the poison, on the same partition (same key).
            meta = await producer.send_and_wait(topic, encode(good), key=key.encode())
            assert all(p == meta.partition for (t, p, _) in sent if t == topic)
    finally:
        await producer.stop()

    for short, good in goods.items():
        for service in READERS[short]:
            await wait_for(
                lambda s=service, g=good, t=short: _applied(tenants, s, g, t),  # type: ignore[misc]
                within=60,
                what=f"{service} to apply the good {short} message behind the poison",
            )

    expected = sum(len(READERS[t.rsplit(".", 1)[1]]) for (t, _, _) in sent)
    letters: list[dict[str, Any]] = []

    async def all_lettered() -> bool:
        nonlocal letters
        records = await read_topic(bootstrap, stack.topics.deadletter)
        letters = [orjson.loads(r.value) for r in records]
        letters = [
            x
            for x in letters
            if (x.get("source_topic"), x.get("partition"), x.get("offset")) in sent
        ]
        return len(letters) >= expected

    await wait_for(all_lettered, within=60, what=f"{expected} dead letters")
    by_service = Counter((x["source_topic"].rsplit(".", 1)[1], x["service"]) for x in letters)
    print(
        f"poison: {len(sent)} poison messages on {len(READERS)} topics, {len(letters)} dead "
        f"letters ({dict(by_service)}), {len(goods)} good messages applied by every reader"
    )
    # Once per reading service, no more (a redelivered poison is not lettered twice here).
    assert by_service == Counter(
        {(t, s): 4 for t, services in READERS.items() for s in services}
    ), by_service
    for letter in letters:
        kind = sent[(letter["source_topic"], letter["partition"], letter["offset"])]
        reason = letter["reason"]
        assert reason, letter
        if kind == "unknown type":
            assert reason == "unknown event type 'teleported'", letter
        elif kind == "payload does not fit its type":
            assert reason.startswith("invalid "), letter
        else:
            assert reason.startswith("invalid envelope"), letter
        if kind == "not JSON":
            assert letter["value_base64"], letter  # the original bytes are kept
