"""`make demo`: simulated visitors sent through ingest, then what LeadFlow made of them,
watched through the public APIs until leads are scored, MQLs appear and emails go out."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tools.demo.setup import Demo, Urls
from tools.simulation import simulate as simulation
from tools.simulation import traffic


def send(demo: Demo, urls: Urls, *, leads: int, days: int, seed: int) -> int:
    """Simulated history of `leads` people over the last `days`, through ingest's /v1/batch."""
    result = simulation.simulate(leads, days=days, seed=seed)
    return traffic.send_to_ingest(urls.ingest, demo.write_key, result.messages)


def snapshot(demo: Demo, urls: Urls, days: int) -> dict[str, Any]:
    """Funnel counts (reporting) and emails sent (nurture), as a user would ask for them."""
    auth = {"Authorization": f"Bearer {demo.api_key}"}
    today = datetime.now(UTC).date()
    period = {"start": (today - timedelta(days=days + 1)).isoformat(), "end": today.isoformat()}
    with httpx.Client(headers=auth, timeout=10) as client:
        funnel = client.get(f"{urls.reporting}/v1/funnel", params=period).json()
        results = client.get(f"{urls.nurture}/v1/sequences/{demo.sequence_id}/results").json()
    stages = {row["stage"]: row["reached"] for row in funnel["stages"]}
    sent = sum(step["sent"] for step in results["steps"])
    return {"stages": stages, "emails_sent": sent, "period": period}


def watch(
    demo: Demo,
    urls: Urls,
    *,
    days: int,
    seconds: float,
    say: Callable[[str], None],
    every: float = 5,
) -> dict[str, Any]:
    """Print progress until MQLs exist, their emails went out and the figures settled (or
    `seconds` pass)."""
    deadline = time.monotonic() + seconds
    last: dict[str, Any] | None = None
    while True:
        now = snapshot(demo, urls, days)
        s = now["stages"]
        say(
            f"  subscribers {s.get('subscriber', 0):>5}   leads {s.get('lead', 0):>5}   "
            f"MQLs {s.get('mql', 0):>4}   customers {s.get('customer', 0):>4}   "
            f"emails sent {now['emails_sent']:>4}"
        )
        settled = (
            last is not None and last["stages"] == s and last["emails_sent"] == now["emails_sent"]
        )
        if (s.get("mql", 0) and now["emails_sent"] and settled) or time.monotonic() > deadline:
            return now
        last = now
        time.sleep(every)
