"""Reporting benchmarks, against a real reporting process and PostgreSQL:

- p95 answer time of every endpoint (over HTTP, with the API key) with large read models
  loaded: 500,000 leads and 5,000,000 touchpoints at scale 1 (`--reporting-scale` scales
  both), one year of history, periods of one month. Loaded with COPY straight into the read
  models (feeding 5 million events through Kafka would take the whole bench); the touch
  volume and first touches are derived from the loaded touches by SQL, as the consumer
  would. Baseline: a raw SQL count of the period's MQLs on the same data, same run.
- events/s the read models apply from Kafka (touchpoints, lead and email events of
  simulated people), into those same large tables. Baseline: a bare aiokafka consumer
  reading and decoding the same events.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from bench import harness
from bench.harness import Figure
from bench.loadgen import ROOT
from bench.scoring import CLI, applied, service
from services.registry import SERVICES
from services.reporting.store.projections.credits import rebuild_sql
from shared.bus import KafkaPublisher, create_producer, ensure_topics, publish, topic_partitions
from shared.db.migrations import upgrade
from shared.events import Envelope, Topics, decode
from shared.net import free_port

END = datetime(2026, 6, 30, tzinfo=UTC)
PERIOD = {"start": "2026-06-01", "end": "2026-06-30", "tz": "Europe/Paris"}
UTMS = [
    ("google", "cpc", "spring"),
    ("google", "cpc", "brand"),
    ("linkedin", "social", "spring"),
    ("newsletter", "email", "june-news"),
    ("bing", "cpc", "brand"),
    ("google", "organic", None),
]
STAGES = ["subscriber", "lead", "mql", "sql", "opportunity", "customer"]
GO_ON = [0.6, 0.45, 0.4, 0.6, 0.5]  # share of leads going on from each stage
ENDPOINTS = [
    ("/v1/funnel", {}),
    ("/v1/funnel", {"breakdown": "source"}),
    ("/v1/funnel", {"breakdown": "sequence"}),
    ("/v1/funnel", {"breakdown": "cohort"}),
    ("/v1/velocity", {}),
    ("/v1/volume", {}),
    ("/v1/cohorts", {"cohort": "week"}),
    ("/v1/attribution", {}),
    ("/v1/revenue", {}),
    ("/v1/nurture", {}),
    ("/v1/forecast", {}),
]


def _pg(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def load(database: str, ws: str, leads: int, touches_per_lead: int, seed: int) -> int:
    """Read models of `leads` leads over a year, ~touches_per_lead touches each; returns
    the number of touches loaded."""
    rng = random.Random(seed)
    lead_rows, key_rows, touch_rows, enrollment_rows, send_rows = [], [], [], [], []
    year = 365 * 86400
    for i in range(leads):
        lead, anon = f"ld_{i}", f"anon:a{i}"
        first = END - timedelta(seconds=rng.random() * year)
        utm = rng.choice([*UTMS, None, None])
        at, reached = first, {}
        for n, stage in enumerate(STAGES):
            if n and rng.random() > GO_ON[n - 1]:
                break
            at += timedelta(days=rng.expovariate(1 / 7)) if n else timedelta(minutes=5)
            reached[stage] = at
        amount = float(rng.choice([1000, 2500, 4000, 12000])) if "customer" in reached else None
        lost = at + timedelta(days=3) if rng.random() < 0.05 else None
        lead_rows.append(
            (
                ws,
                lead,
                *(reached.get(s) for s in STAGES),
                lost,
                reached.get("customer"),
                amount,
                first,
                str(i),
                *(utm or (None, None, None)),
            )
        )
        key_rows += [(ws, f"lead:{lead}", lead), (ws, anon, lead)]
        when = first
        for n in range(max(1, int(rng.expovariate(1 / touches_per_lead)))):
            kind = rng.choices(["page", "track", "identify", "email.opened"], [70, 20, 5, 5])[0]
            tagged = utm if n == 0 else (rng.choice(UTMS) if rng.random() < 0.3 else None)
            row_utm = tagged if kind == "page" or n == 0 else None
            touch_rows.append((uuid.uuid4(), ws, anon, when, kind, *(row_utm or (None,) * 3)))
            when += timedelta(hours=rng.expovariate(1 / 60))
        if "mql" in reached and rng.random() < 0.5:
            sequence = rng.choice(["seq_welcome", "seq_demo", "seq_trial"])
            start = reached["mql"] + timedelta(minutes=5)
            goal = "stage:sql" if "sql" in reached else None
            enrollment_rows.append((ws, f"enr{i}", lead, sequence, start, None, goal))
            for step in ("welcome", "follow-up"):
                start += timedelta(days=2)
                opened = start + timedelta(hours=1) if rng.random() < 0.5 else None
                send_rows.append(
                    (
                        ws,
                        f"snd{i}{step}",
                        lead,
                        sequence,
                        step,
                        rng.choice(["a", "b"]),
                        start,
                        None,
                        opened,
                        None,
                        None,
                    )
                )
    # In the order a live system writes them: by time.
    lead_rows.sort(key=lambda r: r[11])  # first_touch_at
    touch_rows.sort(key=lambda r: r[3])
    conn = await asyncpg.connect(_pg(database))
    try:
        columns = ["workspace_id", "lead_id", *(f"{s}_at" for s in STAGES), "disqualified_at"]
        columns += ["won_at", "won_amount", "first_touch_at", "first_touch_id"]
        columns += ["source", "medium", "campaign"]
        await conn.copy_records_to_table(
            "leads", schema_name="reporting", records=lead_rows, columns=columns
        )
        await conn.copy_records_to_table("lead_keys", schema_name="reporting", records=key_rows)
        await conn.copy_records_to_table(
            "touches",
            schema_name="reporting",
            records=touch_rows,
            columns=["id", "workspace_id", "key", "at", "type", "source", "medium", "campaign"],
        )
        await conn.copy_records_to_table(
            "enrollments", schema_name="reporting", records=enrollment_rows
        )
        await conn.copy_records_to_table(
            "email_sends",
            schema_name="reporting",
            records=send_rows,
            columns=[
                "workspace_id",
                "send_id",
                "lead_id",
                "sequence_id",
                "step_id",
                "variant_id",
                "sent_at",
                "bounced_at",
                "opened_at",
                "clicked_at",
                "unsubscribed_at",
            ],
        )
        # What the consumer keeps per touch and per enrollment, derived here from the loaded rows.
        await conn.execute(
            """
            INSERT INTO reporting.touch_volume (workspace_id, bucket, type, touches)
            SELECT workspace_id, date_bin('15 minutes', at, timestamptz '2000-01-01'), type,
                   count(*) FROM reporting.touches GROUP BY 1, 2, 3;
            INSERT INTO reporting.key_touches
            SELECT DISTINCT ON (workspace_id, key) workspace_id, key, at, id::text, source,
                   medium, campaign
              FROM reporting.touches ORDER BY workspace_id, key, at, id::text;
            UPDATE reporting.leads l SET sequences = e.sequences
              FROM (SELECT workspace_id, lead_id,
                           array_agg(DISTINCT sequence_id ORDER BY sequence_id) AS sequences
                      FROM reporting.enrollments GROUP BY 1, 2) e
             WHERE l.workspace_id = e.workspace_id AND l.lead_id = e.lead_id;
            """
        )
        # Attribution credit per converting lead, by the consumer's own rebuild query.
        await conn.execute(
            rebuild_sql(
                "SELECT workspace_id, lead_id FROM reporting.leads WHERE mql_at IS NOT NULL"
            )
        )
        await conn.execute("VACUUM ANALYZE")  # as autovacuum would, in time
    finally:
        await conn.close()
    return len(touch_rows)


async def _p95(call: Any, times: int) -> float:
    """p95 in ms of `times` sequential calls (after 3 to warm up)."""
    for _ in range(3):
        await call()
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.quantiles(samples, n=20)[18]


def simulated_events(ws: str, people: int, seed: int) -> dict[str, list[Envelope]]:
    """Touchpoints, lead events and email events of `people` simulated people."""
    rng = random.Random(seed)
    out: dict[str, list[Envelope]] = {"touchpoints": [], "lead_events": [], "email_events": []}
    for i in range(people):
        anon, user, lead = f"b{seed}-{i}", f"bu{seed}-{i}", f"ldb{seed}-{i}"
        at = END - timedelta(days=rng.random() * 60)

        def add(topic: str, kind: str, when: datetime, anon: str = anon, **payload: Any) -> None:
            out[topic].append(
                Envelope(
                    type=kind, workspace_id=ws, lead_key=anon, occurred_at=when, payload=payload
                )
            )

        for n in range(rng.randint(4, 12)):
            utm = rng.choice(UTMS)
            context = {"campaign": {"source": utm[0], "medium": utm[1], "name": utm[2]}}
            add("touchpoints", "page", at + timedelta(hours=n), message_id=uuid.uuid4().hex,
                anonymous_id=anon, user_id=user if n > 2 else None, context=context)  # fmt: skip
        facts = {"lead_id": lead, "user_ids": [user], "anonymous_ids": [anon], "traits": {}}
        for n, stage in enumerate(STAGES[: rng.randint(1, 4)]):
            add("lead_events", "lead.lifecycle_changed", at + timedelta(days=n), **facts,
                from_stage=None, to_stage=stage, reason="bench")  # fmt: skip
        add("email_events", "email.sent", at + timedelta(days=1), lead_id=lead,
            send_id=f"s{seed}-{i}", sequence_id="seq_welcome", step_id="welcome",
            variant_id="a", to="x@example.com", subject="Hi")  # fmt: skip
    return out


async def bare_consume(bootstrap: str, topics: list[str], n: int) -> float:
    """Baseline: a plain aiokafka consumer reading and decoding the same n events."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [p for t in topics for p in await topic_partitions(bootstrap, t)]
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


async def run(
    bootstrap: str, repeats: int, scale: float = 1.0, requests: int = 40
) -> tuple[list[Figure], dict[str, Any]]:
    leads = int(500_000 * scale)
    database = await harness.fresh_database("leadflow_bench_reporting")
    for name in ("ingest", "reporting"):
        await upgrade(SERVICES[name].migrations, database_url=database, schema=name)
    topics = Topics(f"brep{uuid.uuid4().hex[:8]}")
    await ensure_topics(bootstrap, topics, partitions=3, replication_factor=1)
    environ = {**os.environ, "LEADFLOW_TOPIC_PREFIX": topics.prefix, "DATABASE_URL": database}
    created = await asyncio.to_thread(
        subprocess.run,
        [*CLI, "workspace", "create", "bench", "--json"],
        env=environ,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    workspace = json.loads(created.stdout)
    ws, key = workspace["id"], workspace["api_key"]
    started = time.perf_counter()
    touches = await load(database, ws, leads, touches_per_lead=10, seed=7)
    load_seconds = time.perf_counter() - started
    figures: list[Figure] = []
    details: dict[str, Any] = {
        "leads": leads,
        "touchpoints": touches,
        "load_seconds": round(load_seconds, 1),
        "period": PERIOD,
        "requests_per_run": requests,
    }
    port = free_port()  # other benches may be running on this machine
    with service("reporting", port, topics, DATABASE_URL=database) as proc:
        headers = {"Authorization": f"Bearer {key}"}
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as api:
            while (await api.get("/v1/volume", params=PERIOD)).status_code != 200:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            pg = await asyncpg.connect(_pg(database))
            try:
                start = datetime(2026, 6, 1, tzinfo=UTC)

                async def raw_sql() -> None:
                    await pg.fetchval(
                        "SELECT count(*) FROM reporting.leads WHERE workspace_id = $1"
                        " AND mql_at >= $2 AND mql_at < $3",
                        ws,
                        start,
                        END,
                    )

                baseline = statistics.median(
                    [await _p95(raw_sql, requests) for _ in range(repeats)]
                )
                per_endpoint = {}
                for path, extra in ENDPOINTS:

                    async def get(path: str = path, extra: dict[str, str] = extra) -> None:
                        answer = await api.get(path, params=PERIOD | extra)
                        assert answer.status_code == 200, answer.text

                    p95 = statistics.median([await _p95(get, requests) for _ in range(repeats)])
                    name = path + (
                        "?" + "&".join(f"{k}={v}" for k, v in extra.items()) if extra else ""
                    )
                    per_endpoint[name] = round(p95, 1)
                    figures.append(
                        Figure(
                            f"rep {name.removeprefix('/v1/')} p95",
                            "ms",
                            p95,
                            "raw SQL MQL count p95",
                            baseline,
                            repeats,
                        )
                    )
                details["p95_ms"] = per_endpoint
                details["raw_sql_p95_ms"] = round(baseline, 2)
            finally:
                await pg.close()
        proc.terminate()
        proc.wait(60)

    # Read-model throughput from Kafka, into the large tables just loaded.
    rates, baselines = [], []
    for r in range(repeats):
        run_topics = Topics(f"brep{uuid.uuid4().hex[:8]}")
        await ensure_topics(bootstrap, run_topics, partitions=3, replication_factor=1)
        events = simulated_events(ws, people=max(200, int(6000 * min(scale * 10, 1))), seed=r)
        producer = create_producer(bootstrap, client_id="bench")
        await producer.start()
        try:
            for name, batch in events.items():
                await publish(KafkaPublisher(producer), getattr(run_topics, name), batch)
        finally:
            await producer.stop()
        n = sum(len(batch) for batch in events.values())
        names = [run_topics.touchpoints, run_topics.lead_events, run_topics.email_events]
        baselines.append(await bare_consume(bootstrap, names, n))
        with service("reporting", port, run_topics, DATABASE_URL=database):
            first = None
            while (done := applied(port)) < n:
                if done and first is None:
                    first = (time.perf_counter(), done)
                await asyncio.sleep(0.05)
            end = time.perf_counter()
            assert first is not None
            rates.append((n - first[1]) / (end - first[0]))
        details["events_per_throughput_run"] = n
    figures.append(
        Figure(
            "reporting: events applied",
            "events/s",
            statistics.median(rates),
            "bare consumer read+decode",
            statistics.median(baselines),
            repeats,
        )
    )
    details["runs_events_per_s"] = [round(r) for r in rates]
    return figures, details
