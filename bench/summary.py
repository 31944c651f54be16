"""The short table `make bench` ends with: the headline figure of each service, each beside
the baseline it was measured against in the same run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.harness import Figure

Row = dict[str, Any]


def _figure(figures: list[Figure], test: Callable[[Figure], bool]) -> Figure | None:
    return next((f for f in figures if test(f)), None)


def _row(label: str, f: Figure | None) -> Row | None:
    if f is None:
        return None
    return {
        "figure": label,
        "value": round(f.value, 1),
        "unit": f.unit,
        "baseline": f"{f.baseline:,.0f} {f.unit}: {f.baseline_name}",
        "ratio": round(f.ratio, 2),
    }


def _slowest_report(figures: list[Figure]) -> Row | None:
    """Reporting's p95 is its slowest endpoint's (bench/reporting.py times each one)."""
    reports = [f for f in figures if f.name.startswith("rep ") and f.name.endswith(" p95")]
    if not reports:
        return None
    worst = max(reports, key=lambda f: f.value)
    name = worst.name.removeprefix("rep ").removesuffix(" p95")
    return _row(f"reporting p95 (slowest: {name})", worst)


def headline(figures: list[Figure], details: dict[str, Any]) -> list[Row]:
    """The rows found among this run's figures (a partial run gives a partial table)."""

    def named(start: str) -> Callable[[Figure], bool]:
        return lambda f: f.name.startswith(start)

    rows = [
        _row("ingest events/s, batch", _figure(figures, named("ingest /v1/batch"))),
        _row("ingest requests/s, single", _figure(figures, named("ingest /v1/track (1"))),
    ]
    latency = (details.get("scoring") or {}).get("latency")
    p99 = _figure(figures, named("event->transition p99"))
    if latency and p99:
        rows.append(
            {
                "figure": "event->transition latency p50 / p99",
                "value": f"{latency['p50_ms']} / {latency['p99_ms']}",
                "unit": "ms",
                "baseline": f"{latency['ingest_hop_p99_ms']} ms: ingest->touchpoints hop p99",
                "ratio": None,
            }
        )
    rows += [
        _row("scoring events/s", _figure(figures, named("scoring: touchpoints applied"))),
        _row("model inference us/event, batched", _figure(figures, named("inference per event"))),
        _row("nurture emails/s", _figure(figures, named("nurture: emails delivered"))),
        _slowest_report(figures),
        _row("reporting events/s (read models)", _figure(figures, named("reporting: events"))),
    ]
    rows += [
        _row(f"{name} peak memory", _figure(figures, named(f"{name} peak memory (demo")))
        for name in ("ingest", "scoring", "nurture", "reporting")
    ]
    return [r for r in rows if r is not None]


def render(rows: list[Row]) -> str:
    head = f"{'headline':38} {'value':>16} {'unit':10} {'ratio':>6}  baseline (same run)"
    lines = [head, "-" * len(head)]
    for r in rows:
        value = r["value"] if isinstance(r["value"], str) else f"{r['value']:,.1f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"{r['figure']:38} {value:>16} {r['unit']:10} {ratio:>6}  {r['baseline']}")
    return "\n".join(lines)
