"""Nurture: per sequence, step and variant, the emails sent or bounced in the period and
what came of them, and per sequence, the enrollments started in the period.

Step rows: `enrolled` is the leads this step (variant) went to; `reached_goal` those of them
whose enrollment in the sequence exited on one of its goals (a stage such as sql, or an
event: nurture's exit reasons `stage:...` and `event:...`). opened, clicked and
unsubscribed count sent emails (each once however often it happened). Sequence rows (step
and variant empty) count enrollments started in the period and every email of the period.
Rates: per email sent; bounce rate per email sent or bounced; goal rate per enrolled."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.reporting.domain.period import rate

EMAILS = ("sent", "opened", "clicked", "unsubscribed", "bounced")
GOAL_PREFIXES = ("stage:", "event:")  # exit reasons that are a sequence's goals
StepCounts = tuple[str, str, str, Mapping[str, int]]  # sequence, step, variant, counts


def nurture_rows(
    steps: list[StepCounts], enrolled: Iterable[tuple[str, int, int]]
) -> list[dict[str, Any]]:
    """Sequence rows then step rows (sorted together by sequence, step, variant), from the
    step counts and per sequence (enrollments started, of them reaching a goal)."""
    # A sequence's email counts are the sum of its steps' (each send has one step).
    totals: dict[str, dict[str, int]] = {}
    for sequence, _, _, counts in steps:
        total = totals.setdefault(sequence, _empty())
        for k in EMAILS:
            total[k] += counts[k]
    for sequence, n, goal in enrolled:
        totals.setdefault(sequence, _empty())
        totals[sequence] |= {"enrolled": n, "reached_goal": goal}
    rows = [
        with_rates({"sequence_id": seq, "step_id": "", "variant_id": ""} | counts)
        for seq, counts in totals.items()
    ]
    rows += [
        with_rates({"sequence_id": seq, "step_id": step, "variant_id": variant} | dict(counts))
        for seq, step, variant, counts in steps
    ]
    rows.sort(key=lambda r: (r["sequence_id"], r["step_id"], r["variant_id"]))
    return rows


def _empty() -> dict[str, int]:
    return {"enrolled": 0, "reached_goal": 0} | dict.fromkeys(EMAILS, 0)


def with_rates(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's counts in the report's order, and its rates."""
    order = ["enrolled", "sent", "opened", "clicked", "unsubscribed", "bounced", "reached_goal"]
    out = {k: row[k] for k in ("sequence_id", "step_id", "variant_id", *order)}
    return out | {
        "open_rate": rate(row["opened"], row["sent"]),
        "click_rate": rate(row["clicked"], row["sent"]),
        "unsubscribe_rate": rate(row["unsubscribed"], row["sent"]),
        "bounce_rate": rate(row["bounced"], row["sent"] + row["bounced"]),
        "goal_rate": rate(row["reached_goal"], row["enrolled"]),
    }
