"""Cohorts: leads grouped by the week (from Monday) or month of their first touch, and the
share of each cohort that had reached each stage by each age.

Age k of a cohort ends k+1 weeks (months) after the cohort's first local day; a lead reached
a stage by age k when it reached it (domain/stages.py) before that end. Ages are listed up to
the one `as_of` falls in. Cohorts are those of leads first touched in the period."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from services.reporting.domain.period import CohortUnit, rate
from services.reporting.domain.stages import FUNNEL

STAGES = FUNNEL[1:]  # every lead reached subscriber


def age_of(cohort: date, at: datetime, unit: CohortUnit) -> int:
    """Age (whole weeks or months since the cohort's first day) of a local wall time."""
    if unit == "week":
        return (at - datetime.combine(cohort, datetime.min.time())).days // 7
    return (at.year - cohort.year) * 12 + at.month - cohort.month


def cohort_table(
    groups: Iterable[tuple[str, Sequence[int | None], int]], now: datetime, unit: CohortUnit
) -> list[dict[str, Any]]:
    """Rows (cohort, age, leads, reached_<stage>..., share_<stage>...) from groups of leads
    (cohort, the age at which they reached each of STAGES or None, how many), `now` being
    as_of's local wall time: per age, the leads that had reached each stage by then."""
    size: dict[str, int] = defaultdict(int)
    reached_at: dict[tuple[str, str, int], int] = defaultdict(int)  # cohort, stage, age -> n
    for cohort, ages, n in groups:
        size[cohort] += n
        for stage, age in zip(STAGES, ages, strict=True):
            if age is not None:
                reached_at[(cohort, stage, age)] += n
    out = []
    for cohort in sorted(size):
        last_age = age_of(date.fromisoformat(cohort), now, unit)
        running = dict.fromkeys(STAGES, 0)
        for age in range(last_age + 1):  # a stage is never reached before the first touch
            row: dict[str, Any] = {"cohort": cohort, "age": age, "leads": size[cohort]}
            for stage in STAGES:
                running[stage] += reached_at.get((cohort, stage, age), 0)
                row[f"reached_{stage}"] = running[stage]
            for stage in STAGES:
                row[f"share_{stage}"] = rate(running[stage], size[cohort])
            out.append(row)
    return out
