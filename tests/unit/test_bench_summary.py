"""The headline table of `make bench` picks each service's figure, and leaves out what a
partial run did not measure."""

from __future__ import annotations

from bench import summary
from bench.harness import Figure


def test_headline_rows_come_from_the_figures_with_their_baselines() -> None:
    figures = [
        Figure(
            "ingest /v1/batch (100 events/req)", "events/s", 50_000, "bare producer", 100_000, 3
        ),
        Figure("event->transition p99 at 2000/s", "ms", 250, "ingest hop p99", 3, 3),
        Figure("inference per event, batch 1000", "us", 2, "single-row call", 40, 5),
        Figure("nurture: emails delivered (8 conn)", "emails/s", 600, "bare loop", 1500, 3),
        Figure("scoring peak memory (demo load)", "MiB", 240, "same process, idle", 200, 1),
        Figure("rep funnel p95", "ms", 20, "raw SQL p95", 2, 3),
        Figure("rep cohorts p95", "ms", 40, "raw SQL p95", 2, 3),
    ]
    details = {"scoring": {"latency": {"p50_ms": 100, "p99_ms": 250, "ingest_hop_p99_ms": 3}}}
    rows = summary.headline(figures, details)
    assert [(r["figure"], r["value"], r["ratio"]) for r in rows] == [
        ("ingest events/s, batch", 50_000, 0.5),
        ("event->transition latency p50 / p99", "100 / 250", None),
        ("model inference us/event, batched", 2, 0.05),
        ("nurture emails/s", 600, 0.4),
        ("reporting p95 (slowest: cohorts)", 40, 20.0),
        ("scoring peak memory", 240, 1.2),
    ]
    text = summary.render(rows)
    assert "100 / 250" in text
    assert "bare producer" in text
