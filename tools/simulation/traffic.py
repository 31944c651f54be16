"""Where simulated traffic goes: a JSON-lines file, or ingest's /v1/batch like any SDK."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("wb") as out:
        for row in rows:
            out.write(orjson.dumps(row) + b"\n")
            count += 1
    return count


class Refused(Exception):
    """Ingest rejected something: a bug in the simulation, not worth retrying."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError) or (
        isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in (429, 503)
    )


def send_to_ingest(
    url: str, write_key: str, messages: Sequence[dict[str, Any]], batch_size: int = 500
) -> int:
    """POST the messages to /v1/batch; 429 and 503 are retried with backoff. Returns how many."""
    sent = 0
    with httpx.Client(base_url=url.rstrip("/"), auth=(write_key, ""), timeout=30) as client:
        for start in range(0, len(messages), batch_size):
            batch = list(messages[start : start + batch_size])
            for attempt in Retrying(
                retry=retry_if_exception(_retryable),
                wait=wait_exponential_jitter(multiplier=0.5, max=10),
                stop=stop_after_attempt(8),
                reraise=True,
            ):
                with attempt:
                    response = client.post("/v1/batch", json={"batch": batch})
                    if response.status_code in (429, 503):
                        response.raise_for_status()
            body = response.json()
            if response.status_code != 200 or body.get("rejected"):
                raise Refused(f"ingest answered {response.status_code}: {body}")
            sent += len(batch)
    return sent
