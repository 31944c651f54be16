"""Scoring benchmarks: touchpoints/s through a real scoring process, event-to-transition
latency through ingest and scoring, and batched vs single-row model inference.

Each figure sits next to a baseline from the same run: a bare aiokafka consumer reading
(and decoding) the same touchpoints; the ingest-to-touchpoints hop alone; a single-row
model call.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from bench import harness
from bench.harness import Figure
from bench.ingest import _rss_kib
from bench.loadgen import ROOT
from services.ingest.domain.envelopes import envelopes_of
from services.scoring.domain import training
from services.scoring.domain.scorer import score_many
from services.scoring.workers.live_models import default_bundle
from shared.bus import KafkaPublisher, create_producer, ensure_topics, publish, topic_partitions
from shared.events import Envelope, Topics, decode
from tools.simulation.simulate import simulate

CLI = [sys.executable, "-m", "services.cli"]


async def fresh_database() -> str:
    """A new, empty database for one run: leads left by an earlier run would keep the decay
    job busy and blur the figures."""
    return await harness.fresh_database("leadflow_bench_scoring")


@contextmanager
def service(name: str, port: int, topics: Topics, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    environ = {**os.environ, "LEADFLOW_TOPIC_PREFIX": topics.prefix, "LOG_LEVEL": "WARNING", **env}
    subprocess.run([*CLI, "migrate", name], env=environ, cwd=ROOT, check=True, capture_output=True)
    proc = subprocess.Popen([*CLI, "serve", name, "--port", str(port)], env=environ, cwd=ROOT)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(60)


def applied(port: int, topic: str = "") -> int:
    """Messages the service's consumers applied so far (its Prometheus counter), from the
    topics whose name contains `topic`."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics/").text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("leadflow_consumer_messages_total{")
            and 'outcome="applied"' in line
            and topic in line
        )
    )


def traffic(people: int, seed: int) -> tuple[str, list[Envelope]]:
    workspace = f"bench_{uuid.uuid4().hex[:8]}"
    return workspace, envelopes_of(simulate(people, seed=seed).messages, workspace)


async def bare_consume(bootstrap: str, topic: str, n: int) -> float:
    """Baseline: a plain aiokafka consumer reading and decoding the same n touchpoints."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen, start = 0, time.perf_counter()
        while seen < n:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=2000)).values():
                for record in records:
                    decode(record.value)
                seen += len(records)
        return n / (time.perf_counter() - start)
    finally:
        await consumer.stop()


async def throughput(bootstrap: str, people: int, repeats: int) -> tuple[Figure, dict[str, Any]]:
    rates, baselines, peaks = [], [], []
    for run in range(repeats):
        topics = Topics(f"bsc{uuid.uuid4().hex[:8]}")
        await ensure_topics(bootstrap, topics, partitions=3, replication_factor=1)
        _, envelopes = traffic(people, seed=100 + run)
        producer = create_producer(bootstrap, client_id="bench")
        await producer.start()
        try:
            await publish(KafkaPublisher(producer), topics.touchpoints, envelopes)
        finally:
            await producer.stop()
        n = len(envelopes)
        baselines.append(await bare_consume(bootstrap, topics.touchpoints, n))
        database = await fresh_database()
        port = 18102
        with service("scoring", port, topics, DATABASE_URL=database) as proc:
            first = None
            while (done := applied(port)) < n:
                if done and first is None:
                    first = (time.perf_counter(), done)
                await asyncio.sleep(0.05)
            end = time.perf_counter()
            assert first is not None
            rates.append((n - first[1]) / (end - first[0]))
            peaks.append(_rss_kib(proc.pid, "VmHWM") / 1024)
    figure = Figure(
        "scoring: touchpoints applied",
        "events/s",
        statistics.median(rates),
        "bare consumer read+decode",
        statistics.median(baselines),
        repeats,
    )
    details = {
        "events_per_run": n,
        "people_per_run": people,
        "runs_events_per_s": [round(r) for r in rates],
        "peak_rss_mib": max(peaks),
    }
    return figure, details


async def latency(
    bootstrap: str, rate: int, seconds: int, repeats: int
) -> tuple[Figure, dict[str, Any]]:
    """p50 and p99 of event->transition, medians of `repeats` runs (one run's p99 is its
    worst few dozen transitions: a single pause of the machine moves it several-fold)."""
    runs = [await _latency_run(bootstrap, rate, seconds) for _ in range(repeats)]
    p99 = statistics.median(r["p99_ms"] for r in runs)
    figure = Figure(
        f"event->transition p99 at {rate}/s",
        "ms",
        p99,
        "ingest->touchpoints p99",
        statistics.median(r["ingest_hop_p99_ms"] for r in runs),
        repeats,
    )
    details = {
        **{k: v for k, v in runs[0].items() if k in ("sent", "transitions", "workload")},
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": p99,
        "ingest_hop_p50_ms": statistics.median(r["ingest_hop_p50_ms"] for r in runs),
        "ingest_hop_p99_ms": statistics.median(r["ingest_hop_p99_ms"] for r in runs),
        "runs": [{k: r[k] for k in ("p50_ms", "p99_ms")} for r in runs],
    }
    return figure, details


async def _latency_run(bootstrap: str, rate: int, seconds: int) -> dict[str, Any]:
    """Simulated traffic (visits, forms, sign-ups, deals of 4,000 people, in their order)
    sent to ingest at `rate` events/s in batches of 20, stamped now. Every transition it
    causes (a new visitor, a sign-up, an MQL, a deal) is timed from the moment ingest
    received the event to the moment scoring's relay wrote lead.lifecycle_changed to Kafka."""
    messages = [
        {k: v for k, v in m.items() if k != "timestamp"} for m in simulate(4000, seed=41).messages
    ]
    topics = Topics(f"blat{uuid.uuid4().hex[:8]}")
    await ensure_topics(bootstrap, topics, partitions=3, replication_factor=1)
    database = await fresh_database()
    environ = {**os.environ, "LEADFLOW_TOPIC_PREFIX": topics.prefix, "DATABASE_URL": database}
    with (
        service(
            "ingest", 18103, topics, INGEST_RATE_LIMIT="10000000/second", DATABASE_URL=database
        ),
        service("scoring", 18104, topics, DATABASE_URL=database),
    ):
        out = await asyncio.to_thread(
            subprocess.run,
            [*CLI, "workspace", "create", "bench", "--json"],
            env=environ,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        key = json.loads(out.stdout)["write_key"]
        # A loaded machine may hold many requests in flight: room for all, no pool time-out.
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
        async with httpx.AsyncClient(
            base_url="http://127.0.0.1:18103",
            auth=(key, ""),
            limits=limits,
            timeout=httpx.Timeout(60, pool=None),
        ) as client:
            while (await client.post("/v1/batch", json={"batch": []})).status_code != 200:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            per_batch, sent = 20, 0
            start = time.perf_counter()
            tasks = []
            while (elapsed := time.perf_counter() - start) < seconds and sent < len(messages):
                if sent < elapsed * rate:
                    batch = messages[sent : sent + per_batch]
                    tasks.append(
                        asyncio.create_task(client.post("/v1/batch", json={"batch": batch}))
                    )
                    sent += per_batch
                else:
                    await asyncio.sleep(0.002)
            answers = await asyncio.gather(*tasks)
            assert all(a.status_code == 200 for a in answers), {a.status_code for a in answers}
        await asyncio.sleep(3)  # the last transitions
        transitions = await _delays(bootstrap, topics.lead_events, "lead.lifecycle_changed")
        hops = await _delays(bootstrap, topics.touchpoints, None)
    p = statistics.quantiles(transitions, n=100)
    p_hop = statistics.quantiles(hops, n=100)
    return {
        "sent": sent,
        "transitions": len(transitions),
        "workload": "simulated traffic of 4,000 people in order, stamped now",
        "p50_ms": round(p[49], 1),
        "p99_ms": round(p[98], 1),
        "ingest_hop_p50_ms": round(p_hop[49], 1),
        "ingest_hop_p99_ms": round(p_hop[98], 1),
    }


async def _delays(bootstrap: str, topic: str, kind: str | None) -> list[float]:
    """Per record of this type (None: any): Kafka timestamp minus the event's occurred_at,
    in ms."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        delays = []
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    envelope = decode(record.value)
                    if kind is None or envelope.type == kind:
                        at = envelope.occurred_at.timestamp() * 1000
                        delays.append(record.timestamp - at)
        return delays
    finally:
        await consumer.stop()


def inference(repeats: int, batch: int = 1000) -> tuple[Figure, dict[str, Any]]:
    """Per-event cost of scoring a batch, beside one single-row call of the same function."""
    bundle = default_bundle()
    sim = simulate(600, seed=5, end=datetime(2026, 6, 1, tzinfo=UTC))
    # features.Vector, built by features.vector as live scoring builds each event's row
    rows = [r.features for r in training.examples(sim.messages)]
    rows = (rows * (batch // len(rows) + 1))[:batch]
    batched, single, sklearn = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        score_many(bundle, rows)
        batched.append((time.perf_counter() - start) / batch * 1e6)
        start = time.perf_counter()
        for row in rows[:200]:
            score_many(bundle, [row])
        single.append((time.perf_counter() - start) / 200 * 1e6)
        start = time.perf_counter()
        for row in rows[:50]:
            bundle.pipeline.predict_proba([row])
        sklearn.append((time.perf_counter() - start) / 50 * 1e6)
    figure = Figure(
        f"inference per event, batch {batch}",
        "us",
        statistics.median(batched),
        "single-row call",
        statistics.median(single),
        repeats,
    )
    return figure, {
        "batched_us_per_event": round(statistics.median(batched), 2),
        "single_row_us": round(statistics.median(single), 1),
        "sklearn_predict_proba_single_row_us": round(statistics.median(sklearn), 1),
    }


async def run(bootstrap: str, repeats: int, seconds: int) -> tuple[list[Figure], dict[str, object]]:
    through, through_details = await throughput(bootstrap, people=3000, repeats=repeats)
    late, late_details = await latency(bootstrap, rate=2000, seconds=seconds, repeats=repeats)
    infer, infer_details = inference(max(repeats, 5))
    return [through, late, infer], {
        "throughput": through_details,
        "latency": late_details,
        "inference": infer_details,
    }
