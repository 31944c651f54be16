"""Ingest's promises about delivery: 429 over the rate, 503 while Kafka does not answer,
email engagement links, and a real Segment SDK pointed at LeadFlow."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import defaultdict

import httpx
import pytest
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from segment.analytics.client import Client

from shared.bus import create_producer
from shared.bus.producer import KafkaPublisher
from shared.email_links import EmailLink, sign
from shared.events import Topics
from tests.integration.fault_support import local_kafka_pid
from tests.integration.ingest_server import SECRET, ingest_server
from tests.integration.support import read_topic, wait_for


async def test_over_the_workspace_rate_the_answer_is_429_with_retry_after() -> None:
    async with ingest_server(INGEST_RATE_LIMIT="30/minute") as server:
        ws = server.create_workspace()
        async with httpx.AsyncClient(base_url=server.url, auth=(ws["write_key"], "")) as client:
            batch = {"batch": [{"type": "track", "userId": "u", "event": "e"}] * 20}
            await wait_for(
                lambda: _status(client, batch, 200), within=10, what="first batch accepted"
            )
            response = await client.post("/v1/batch", json=batch)
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "rate limit of 30 per 1 minute" in response.json()["error"]


async def _status(client: httpx.AsyncClient, body: object, status: int) -> bool:
    return (await client.post("/v1/batch", json=body)).status_code == status


@pytest.mark.local_servers
async def test_while_kafka_does_not_answer_the_answer_is_503_and_it_recovers(
    bootstrap: str,
) -> None:
    broker = local_kafka_pid()  # fails (never skips) without the Kafka `make test` started
    async with ingest_server(INGEST_ACK_TIMEOUT_SECONDS="2") as server:
        ws = server.create_workspace()
        track = {"userId": "outage", "event": "During outage"}
        async with httpx.AsyncClient(
            base_url=server.url, auth=(ws["write_key"], ""), timeout=30
        ) as client:
            await wait_for(
                lambda: _track_status(client, track, 200), within=10, what="first event accepted"
            )
            os.kill(broker, signal.SIGSTOP)
            try:
                response = await client.post("/v1/track", json=track)
            finally:
                os.kill(broker, signal.SIGCONT)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert "nothing was accepted" in response.json()["error"]
            after = {"userId": "outage", "event": "After outage"}
            await wait_for(lambda: _track_status(client, after, 200), within=60, what="recovery")
        events = await server.touchpoints(bootstrap)
        assert "After outage" in {e.payload.get("event") for e in events}


async def _track_status(client: httpx.AsyncClient, body: object, status: int) -> bool:
    return (await client.post("/v1/track", json=body)).status_code == status


async def test_email_opens_and_clicks_become_touchpoints(bootstrap: str) -> None:
    async with ingest_server() as server:
        ws = server.create_workspace()
        base = {
            "workspace_id": ws["id"],
            "lead_key": "anon-9",
            "lead_id": "lead-9",
            "send_id": "send-1",
            "sequence_id": "seq-1",
            "step_id": "step-2",
        }
        open_token = sign(EmailLink(**base), SECRET)
        click_token = sign(EmailLink(**base, url="https://acme.example/case-study?x=1"), SECRET)
        async with httpx.AsyncClient(base_url=server.url) as client:

            async def pixel_served() -> bool:
                return (await client.get(f"/t/o/{open_token}")).status_code == 200

            await wait_for(pixel_served, within=10, what="open pixel")
            pixel = await client.get(f"/t/o/{open_token}")
            click = await client.get(f"/t/c/{click_token}")
            open_as_click = await client.get(f"/t/c/{open_token}")
            forged = await client.get(
                f"/t/c/{sign(EmailLink(**base, url='https://evil.example'), 'guessed')}"
            )
            tampered = await client.get(f"/t/c/{click_token[:-4]}AAAA")
        assert pixel.headers["content-type"] == "image/gif"
        assert pixel.content.startswith(b"GIF89a")
        assert (click.status_code, click.headers["location"]) == (
            302,
            "https://acme.example/case-study?x=1",
        )
        assert [r.status_code for r in (open_as_click, forged, tampered)] == [404, 404, 404]
        events = await server.touchpoints(bootstrap, at_least=3)
        kinds = [e.type for e in events]
        assert kinds.count("email.opened") == 2
        clicked = next(e for e in events if e.type == "email.clicked")
        assert clicked.lead_key == "anon-9"
        assert clicked.payload["lead_id"] == "lead-9"
        assert clicked.payload["url"] == "https://acme.example/case-study?x=1"
        assert clicked.payload["step_id"] == "step-2"


async def test_a_segment_sdk_pointed_at_leadflow_works_unchanged(bootstrap: str) -> None:
    async with ingest_server() as server:
        ws = server.create_workspace()
        errors: list[object] = []
        client = Client(
            ws["write_key"],
            host=server.url,
            sync_mode=True,
            gzip=True,
            on_error=lambda e, _: errors.append(e),
            max_retries=3,
        )

        def send() -> None:
            client.identify("sdk-user", {"email": "grace@acme.example", "title": "CTO"})
            client.track("sdk-user", "Requested Demo", {"plan": "enterprise"})
            client.page(
                "sdk-user", category="Docs", name="Quickstart", properties={"path": "/docs"}
            )
            client.group("sdk-user", "acme-inc", {"employees": 250})
            client.alias("sdk-alias", "sdk-user")
            client.flush()

        await wait_for(lambda: server.knows(ws["write_key"]), within=10, what="workspace known")
        await asyncio.to_thread(send)
        assert errors == []
        events = [
            e
            for e in await server.touchpoints(bootstrap, at_least=5)
            if e.payload.get("user_id") in ("sdk-user", "sdk-alias")
        ]
        assert sorted(e.type for e in events) == ["alias", "group", "identify", "page", "track"]
        track = next(e for e in events if e.type == "track")
        assert track.payload["event"] == "Requested Demo"
        assert track.payload["context"]["library"]["name"] == "analytics-python"


async def test_simulated_traffic_goes_through_ingest_untouched(bootstrap: str) -> None:
    from tools.simulation.simulate import simulate
    from tools.simulation.traffic import send_to_ingest

    async with ingest_server() as server:
        ws = server.create_workspace()
        await wait_for(lambda: server.knows(ws["write_key"]), within=10, what="workspace known")
        sim = simulate(30, seed=2)
        sent = await asyncio.to_thread(
            send_to_ingest, server.url, ws["write_key"], sim.messages, 100
        )
        assert sent == len(sim.messages)
        events = await server.touchpoints(bootstrap, at_least=sent)
        assert {e.payload["message_id"] for e in events} == {m["messageId"] for m in sim.messages}


async def test_concurrent_callers_share_batches_and_each_record_arrives_once_in_order(
    bootstrap: str, topics: Topics
) -> None:
    """Ingest's publisher puts concurrent requests' records in shared per-partition batches."""
    producer = create_producer(bootstrap, client_id="test-send-many")
    await producer.start()
    publisher = KafkaPublisher(producer)
    topic = topics.touchpoints
    try:

        async def caller(c: int) -> None:
            for r in range(20):
                records = [
                    (f"{c}:{r}:{i}".encode(), f"k{(c + i) % 11}".encode()) for i in range(50)
                ]
                await publisher.send_many(topic, records)

        await asyncio.gather(*(caller(c) for c in range(8)))
        # Over the 256 KB batch size in one partition: several batches, callers wait for room.
        big = [(f"big:{i}:0:".encode() + b"x" * 30_000, b"big") for i in range(40)]
        await asyncio.gather(
            publisher.send_many(topic, big[:20]), publisher.send_many(topic, big[20:])
        )
        with pytest.raises(KafkaError):  # over the broker's message size: refused, and said so
            await publisher.send_many(topic, [(os.urandom(3_000_000), b"huge")])
    finally:
        await producer.stop()

    records = await read_topic(bootstrap, topic)
    values = [r.value for r in records]
    assert len(values) == len(set(values)) == 8 * 20 * 50 + 40
    partitions = sorted({r.partition for r in records})
    murmur2 = DefaultPartitioner()
    order: dict[tuple[bytes, bytes], list[tuple[int, int]]] = defaultdict(list)
    for r in records:  # partition by partition, in offset order
        assert r.partition == murmur2(r.key, partitions, partitions)  # as producer.send would
        caller_id, r_, i = r.value.split(b":")[:3]
        order[(r.key, caller_id)].append((int(r_), int(i)))
    assert all(seq == sorted(seq) for seq in order.values())
