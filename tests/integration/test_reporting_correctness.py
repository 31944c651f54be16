"""Every figure of every reporting endpoint, after a generated stream went through real Kafka
into the running reporting service, against a brute force over the raw events
(tests/integration/reporting_stream.py). Part of the stream is sent twice: nothing changes."""

from __future__ import annotations

import csv
import io
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.bus import KafkaPublisher, create_producer, publish
from shared.events import Envelope
from tests.integration.ingest_server import service_server
from tests.integration.reporting_stream import Truth, generate
from tests.integration.support import committed_offsets, wait_for

AS_OF = datetime(2026, 5, 20, 6, tzinfo=UTC)
TZ = "Europe/Paris"
PERIOD = {"start": "2026-03-01", "end": "2026-04-30", "tz": TZ, "as_of": AS_OF.isoformat()}
COSTS = [
    {"campaign": "spring", "start": "2026-02-15", "end": "2026-03-16", "amount": 3000.0},
    {"campaign": "march-news", "start": "2026-03-01", "end": "2026-03-31", "amount": 620.0},
    {"campaign": "autumn", "start": "2026-04-01", "end": "2026-04-30", "amount": 100.0},
]


def approx(value: Any) -> Any:
    """Floats compared to 4 decimals (sums of shares may differ in the last bit)."""
    if isinstance(value, float):
        return pytest.approx(value, abs=1.01e-4)
    if isinstance(value, dict):
        return {k: approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [approx(v) for v in value]
    return value


async def _publish(bootstrap: str, topic: str, events: list[Envelope]) -> None:
    producer = create_producer(bootstrap, client_id="reporting-test")
    await producer.start()
    try:
        await publish(KafkaPublisher(producer), topic, events)
    finally:
        await producer.stop()


async def test_every_report_matches_a_brute_force_computation(bootstrap: str) -> None:
    async with (
        service_server("ingest") as ingest,
        service_server("reporting", prefix=ingest.topics.prefix) as reporting,
    ):
        ws = ingest.create_workspace()
        stream = generate(ws["id"])
        auth = {"Authorization": f"Bearer {ws['api_key']}"}
        async with httpx.AsyncClient(base_url=reporting.url, headers=auth, timeout=30) as api:
            await wait_for(
                lambda: _ok(api.get("/v1/volume", params=PERIOD)), within=30, what="the key"
            )
            rng = random.Random(3)
            topics = ingest.topics
            published = 0
            for topic, events in (
                (topics.touchpoints, stream.touchpoints),
                (topics.lead_events, stream.lead_events),
                (topics.email_events, stream.email_events),
            ):
                again = rng.sample(events, len(events) // 4)  # redelivered: no effect
                shuffled = rng.sample(events, len(events))
                await _publish(bootstrap, topic, shuffled + again)
                published += len(shuffled) + len(again)
            for cost in COSTS:
                made = await api.post("/v1/campaign-costs", json=cost)
                assert made.status_code == 201, made.text
            group, ours = (
                f"{topics.prefix}.reporting",
                {
                    topics.touchpoints,
                    topics.lead_events,
                    topics.email_events,
                },
            )

            async def caught_up() -> bool:
                offsets = await committed_offsets(bootstrap, group)
                return sum(n for tp, n in offsets.items() if tp.topic in ours) == published

            await wait_for(caught_up, within=90, what="reporting to apply the stream")
            truth = Truth(stream, AS_OF)
            start, end = _bounds()
            await _check_every_report(api, truth, start, end)


def _bounds() -> tuple[datetime, datetime]:
    from services.reporting.domain.period import Period

    period = Period.of_days(
        datetime.fromisoformat(PERIOD["start"]).date(),
        datetime.fromisoformat(PERIOD["end"]).date(),
        TZ,
    )
    return period.start, period.end


async def _ok(response: Any) -> bool:
    return bool((await response).status_code == 200)


async def _json(api: httpx.AsyncClient, path: str, **extra: str) -> Any:
    answer = await api.get(path, params=PERIOD | extra)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _csv(api: httpx.AsyncClient, path: str, **extra: str) -> list[dict[str, str]]:
    answer = await api.get(path, params=PERIOD | extra, headers={"Accept": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


def _as_csv(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What the JSON rows look like once written as CSV."""
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]


async def _check_every_report(
    api: httpx.AsyncClient, truth: Truth, start: datetime, end: datetime
) -> None:
    # Funnel, whole and by each breakdown (JSON and CSV carry the same figures).
    whole = await _json(api, "/v1/funnel")
    expected = truth.funnel(start, end, TZ, None)[0]
    assert whole["stages"] == approx(_ordered(expected["stages"], whole["stages"]))
    assert whole["largest_drop_off"] == approx(expected["largest_drop_off"])
    assert whole["conversion_window_days"]["mql"] == 14
    assert sum(r["in_progress"] for r in whole["stages"][:-1]) > 0
    assert sum(r["lost"] for r in whole["stages"][:-1]) > 0
    assert await _csv(api, "/v1/funnel") == _as_csv(whole["stages"])
    for breakdown in ("source", "medium", "campaign", "sequence", "cohort"):
        got = await _json(api, "/v1/funnel", breakdown=breakdown)
        want = truth.funnel(start, end, TZ, breakdown)
        assert [g["group"] for g in got["groups"]] == [g["group"] for g in want], breakdown
        for g, w in zip(got["groups"], want, strict=True):
            assert g["stages"] == approx(_ordered(w["stages"], g["stages"])), (breakdown, g)
            assert g["largest_drop_off"] == approx(w["largest_drop_off"])
        assert len(got["groups"]) > 1, breakdown
        rows = await _csv(api, "/v1/funnel", breakdown=breakdown)
        assert rows == _as_csv(
            [{"group": g["group"], **s} for g in got["groups"] for s in g["stages"]]
        )

    # Velocity.
    velocity = {r["measure"]: r for r in (await _json(api, "/v1/velocity"))["measures"]}
    for name, (n, quantiles) in truth.velocity(start, end).items():
        row = velocity[name]
        assert row["leads"] == n, name
        assert [row["median_days"], row["p75_days"], row["p90_days"]] == approx(quantiles), name

    # Volume (also in UTC: other local days).
    volume = await _json(api, "/v1/volume")
    assert volume["rows"] == truth.volume(start, end, TZ)
    assert await _csv(api, "/v1/volume") == _as_csv(volume["rows"])
    utc = await api.get("/v1/volume", params=PERIOD | {"tz": "UTC"})
    from services.reporting.domain.period import Period

    p = Period.of_days(start.date(), datetime(2026, 4, 30).date(), "UTC")
    assert utc.json()["rows"] == truth.volume(p.start, p.end, "UTC")

    # Cohorts by week and month.
    for unit in ("week", "month"):
        got_cohorts = await _json(api, "/v1/cohorts", cohort=unit)
        assert got_cohorts["rows"] == approx(truth.cohorts(start, end, TZ, unit)), unit
        assert len({r["cohort"] for r in got_cohorts["rows"]}) > 1
        assert await _csv(api, "/v1/cohorts", cohort=unit) == _as_csv(got_cohorts["rows"])

    # Attribution: every credit, and each model's credits sum to the conversions.
    attribution = (await _json(api, "/v1/attribution"))["rows"]
    credit = truth.attribution(start, end)
    assert {
        (r["stage"], r["model"], r["dimension"], r["value"]): r["credit"] for r in attribution
    } == approx({k: round(v, 4) for k, v in credit.items()})
    assert any(r["model"] == "linear" and r["credit"] % 1 for r in attribution)

    # Revenue and cost.
    costs = {"spring": 3000.0 * 16 / 30, "march-news": 620.0, "autumn": 100.0}
    revenue = (await _json(api, "/v1/revenue"))["rows"]
    assert revenue == approx(truth.revenue(start, end, TZ, costs))
    assert any(r["cost_per_customer"] for r in revenue)
    assert await _csv(api, "/v1/revenue") == _as_csv(revenue)

    # Nurture.
    nurture = (await _json(api, "/v1/nurture"))["rows"]
    assert nurture == approx(truth.nurture(start, end))
    assert {r["variant_id"] for r in nurture} >= {"a", "b"}

    # Forecast: the stated method, by brute force.
    forecast = await _json(api, "/v1/forecast")
    want_forecast = truth.forecast(start, end, horizon=61)
    assert {r["measure"]: r["expected"] for r in forecast["rows"]} == approx(want_forecast)
    assert "probability" in forecast["method"]
    assert want_forecast["mql"]


def _ordered(rows: list[dict[str, Any]], like: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Expected rows with the keys in the order the service writes them."""
    return [{k: row[k] for k in got} for row, got in zip(rows, like, strict=True)]


async def test_reports_refuse_bad_input_with_the_reason(bootstrap: str) -> None:
    async with (
        service_server("ingest") as ingest,
        service_server("reporting", prefix=ingest.topics.prefix) as reporting,
    ):
        ws = ingest.create_workspace()
        auth = {"Authorization": f"Bearer {ws['api_key']}"}
        async with httpx.AsyncClient(base_url=reporting.url, headers=auth) as api:
            good = {"start": "2026-03-01", "end": "2026-03-31"}
            await wait_for(lambda: _ok(api.get("/v1/cohorts", params=good)), within=30, what="key")
            cases = [
                ("/v1/funnel", {**good, "tz": "Mars/Olympus"}, 400, "tz"),
                ("/v1/volume", {**good, "end": "2026-02-01"}, 400, "end"),
                ("/v1/forecast", {**good, "as_of": "2026-03-01T00:00:00"}, 400, "as_of"),
                ("/v1/cohorts", {**good, "cohort": "year"}, 422, "cohort"),
                ("/v1/funnel", {**good, "breakdown": "planet"}, 422, "breakdown"),
                ("/v1/revenue", {"start": "2026-03-01"}, 422, "end"),
                ("/v1/nurture", {**good, "format": "xml"}, 422, "format"),
            ]
            for path, params, status, word in cases:
                answer = await api.get(path, params=params)
                assert answer.status_code == status, (path, params, answer.text)
                assert word in answer.text, answer.text
            bad_cost = {"campaign": "x", "start": "2026-03-02", "end": "2026-03-01", "amount": 1}
            answer = await api.post("/v1/campaign-costs", json=bad_cost)
            assert answer.status_code == 422
            assert "end must not be before start" in answer.text
            answer = await api.post(
                "/v1/campaign-costs", json={**bad_cost, "end": "2026-03-05", "amount": -1}
            )
            assert answer.status_code == 422
            assert "amount" in answer.text
            unauthorised = await httpx.AsyncClient(base_url=reporting.url).get(
                "/v1/funnel", params=good
            )
            assert unauthorised.status_code == 401
            other = f"ws_{uuid.uuid4().hex[:6]}"
            assert other not in (await api.get("/v1/volume", params=good)).text
