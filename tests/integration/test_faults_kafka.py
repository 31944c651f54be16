"""Kafka stopped while clients keep sending to ingest (issue 8, item 2).

The broker is stopped with SIGSTOP (frozen, its port still bound) and SIGCONT: a real
stop and start does not work on this kind of machine, where the test ports lie in Linux's
ephemeral port range: clients reconnecting while the broker is away now and then connect
to themselves on its port, and the new broker's bind fails for a minute (see
fault_support.server). A frozen broker is the harder case for a client anyway: requests
are not refused, they go unanswered.

Clients send batches and, as a Segment SDK does, send the same batch again after a 5xx,
waiting what `Retry-After` says. The oracle is every messageId answered 2xx: each must be
in the touchpoints topic afterwards. While Kafka is away every answer is a 503 with
`Retry-After` (never a 2xx for what Kafka does not hold, never another error), ingest's
memory stays bounded, and events are accepted again within 60 s of Kafka's return.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.integration.fault_support import (
    Size,
    figures,
    require_local_servers,
    rss_bytes,
    sizes,
)
from tests.integration.ingest_server import IngestServer, ingest_server
from tests.integration.support import read_events, wait_for

CLIENTS = 4
BATCH = 25
RECOVERY_BOUND_SECONDS = 60  # the functional limit, not a speed target
MEMORY_BOUND_BYTES = 150 * 1024 * 1024  # growth allowed over the RSS before the outage


@dataclass
class Traffic:
    """What the clients saw."""

    accepted: set[str] = field(default_factory=set)  # messageIds answered 2xx
    statuses: Counter[int] = field(default_factory=Counter)
    refused_without_retry_after: int = 0
    requests: int = 0
    last_accepted_at: float = 0.0
    kafka_down: bool = False
    accepted_while_down: int = 0


async def client(
    server: IngestServer, write_key: str, traffic: Traffic, batches: int, name: str
) -> None:
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=server.url, auth=(write_key, ""), timeout=60) as http:
        for b in range(batches):
            ids = [f"{name}-{b}-{i}" for i in range(BATCH)]
            body = {
                "batch": [
                    {
                        "type": "track",
                        "userId": f"{name}-u{i % 5}",
                        "event": "Outage",
                        "messageId": m,
                    }
                    for i, m in enumerate(ids)
                ]
            }
            while True:  # the same batch (same messageIds) until it is accepted
                traffic.requests += 1
                try:
                    response = await http.post("/v1/batch", json=body)
                except httpx.TransportError:
                    traffic.statuses[0] += 1
                    await asyncio.sleep(1)
                    continue
                traffic.statuses[response.status_code] += 1
                if response.status_code < 300:
                    traffic.accepted.update(ids)
                    traffic.last_accepted_at = loop.time()
                    traffic.accepted_while_down += BATCH if traffic.kafka_down else 0
                    break
                retry_after = response.headers.get("Retry-After")
                if retry_after is None:
                    traffic.refused_without_retry_after += 1
                await asyncio.sleep(float(retry_after or 5))
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    "size",
    sizes(
        Size("quick", events=4_000, kills=1, outage_seconds=8),
        Size("soak", events=40_000, kills=1, outage_seconds=60),
    ),
)
@pytest.mark.local_servers
async def test_kafka_stopped_while_clients_send_loses_no_accepted_event(
    size: Size, bootstrap: str
) -> None:
    require_local_servers()
    broker = int((Path(os.environ["LEADFLOW_HOME"]) / "kafka.pid").read_text())
    traffic = Traffic()
    async with ingest_server(INGEST_ACK_TIMEOUT_SECONDS="3") as ingest:
        ws = ingest.create_workspace()
        await wait_for(lambda: ingest.knows(ws["write_key"]), within=30, what="the workspace")
        per_client = size.events // (CLIENTS * BATCH)
        clients = [
            asyncio.create_task(
                client(ingest, ws["write_key"], traffic, per_client, f"c{n}-{uuid.uuid4().hex[:4]}")
            )
            for n in range(CLIENTS)
        ]
        loop = asyncio.get_running_loop()
        try:
            await wait_for(
                lambda: len(traffic.accepted) >= size.events // 4, within=120, what="traffic"
            )
            before = rss_bytes(ingest.pid)
            peak = before
            accepted_before = len(traffic.accepted)
            traffic.kafka_down = True
            os.kill(broker, signal.SIGSTOP)
            try:
                down_until = loop.time() + size.outage_seconds
                while loop.time() < down_until:
                    peak = max(peak, rss_bytes(ingest.pid))
                    await asyncio.sleep(0.5)
                refused_during = traffic.statuses[503]
            finally:
                os.kill(broker, signal.SIGCONT)
            traffic.kafka_down = False
            back_at = loop.time()
            await wait_for(
                lambda: traffic.last_accepted_at > back_at,
                within=RECOVERY_BOUND_SECONDS,
                what="an event accepted after Kafka's return",
            )
            recovered_after = traffic.last_accepted_at - back_at
            await asyncio.gather(*clients)
            renewals = ingest.log_text().count("failed for good; starting a new one")
        except BaseException:
            print(f"ingest's log ends with:\n{ingest.log_text()[-6000:]}\nclients saw {traffic}")
            raise
        finally:
            for task in clients:
                task.cancel()
        published = await _message_ids(ingest, bootstrap, len(traffic.accepted))

    missing = traffic.accepted - published
    figures(
        f"kafka-outage[{size.name}]",
        events_accepted=len(traffic.accepted),
        accepted_before_outage=accepted_before,
        accepted_while_down=traffic.accepted_while_down,
        missing=len(missing),
        requests=traffic.requests,
        statuses=dict(traffic.statuses),
        refused_503_during_outage=refused_during,
        refused_without_retry_after=traffic.refused_without_retry_after,
        outage_seconds=size.outage_seconds,
        rss_before_mb=before // 2**20,
        rss_peak_mb=peak // 2**20,
        recovered_after_seconds=round(recovered_after, 1),
        producer_renewals=renewals,
    )
    assert len(traffic.accepted) == per_client * CLIENTS * BATCH
    assert missing == set()
    assert set(traffic.statuses) <= {200, 503}, traffic.statuses
    assert refused_during > 0  # the outage really was seen by the clients
    assert traffic.refused_without_retry_after == 0
    assert peak - before < MEMORY_BOUND_BYTES


async def _message_ids(ingest: IngestServer, bootstrap: str, at_least: int) -> set[str]:
    found: set[str] = set()

    async def enough() -> bool:
        nonlocal found
        events = await read_events(bootstrap, ingest.topics.touchpoints)
        found = {str(e.payload.get("message_id")) for e in events}
        return len(found) >= at_least

    with contextlib.suppress(AssertionError):  # the assertion on `missing` says what is absent
        await wait_for(enough, within=60, what="the accepted events in Kafka")
    return found
