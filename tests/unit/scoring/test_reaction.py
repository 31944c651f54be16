"""The reaction to a new score (domain/reaction.py), which a touchpoint (handlers.py) and the
decay job (workers/maintenance.py) share, and the other decisions of pass 2: no servers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.features import FeatureState
from services.scoring.domain.lifecycle import Move, overstayed
from services.scoring.domain.reaction import (
    Outcome,
    adopt_stage,
    amount_of,
    enter,
    react_to_score,
    react_to_track,
    rescore_changes,
    worth_publishing,
)
from services.scoring.domain.records import LeadRecord
from shared.events import Envelope, decode

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
CONFIG = ScoringConfig()  # MQL at score 40 and fit 30, identity required; publish on 5 points
FACTORS = [{"name": "pricing_7d", "points": 12, "text": "viewed pricing: +12"}]


def lead(**fields: Any) -> LeadRecord:
    base: dict[str, Any] = {
        "id": "ld_1",
        "workspace_id": "ws",
        "traits": {"email": "ada@example.com"},
        "features": FeatureState(),
        "first_seen_at": T0,
        "last_seen_at": T0,
    }
    return LeadRecord(**{**base, **fields})


def scored(record: LeadRecord, score: int, fit: int = 50) -> int | None:
    previous = record.score
    record.score, record.fit, record.engagement = score, fit, score
    record.probability, record.model_version = score / 100, "m1"
    return previous


def react(record: LeadRecord, previous: int | None, *, identified: bool = True) -> Outcome:
    out = Outcome()
    react_to_score(
        record,
        previous=previous,
        identified=identified,
        config=CONFIG,
        at=T0,
        cause="cause-1",
        explain=lambda: FACTORS,
        out=out,
    )
    return out


def events(out: Outcome) -> list[Envelope]:
    return [decode(r.value) for r in out.events]


def test_a_first_score_is_published_with_its_factors_and_the_lead_enters_its_stages() -> None:
    record = lead()
    out = react(record, scored(record, 20))
    found = events(out)
    assert [e.type for e in found] == ["lead.scored", *["lead.lifecycle_changed"] * 2]
    assert found[0].payload["score"] == 20
    assert found[0].payload["previous_score"] is None
    assert found[0].payload["factors"][0]["contribution"] == 12
    assert record.factors == FACTORS
    assert record.published_score == 20
    assert [(s["from_stage"], s["stage"], s["actor"]) for s in out.stages] == [
        (None, "subscriber", "auto"),
        ("subscriber", "lead", "auto"),
    ]
    assert record.stage == "lead"


def test_a_small_change_is_not_published_and_factors_are_not_worked_out() -> None:
    record = lead(stage="lead", score=20, published_score=20)
    out = Outcome()
    published = react_to_score(
        record,
        previous=scored(record, 24),
        identified=True,
        config=CONFIG,
        at=T0,
        cause="c",
        explain=lambda: pytest.fail("factors worked out for nothing"),
        out=out,
    )
    assert not published
    assert out.events == []
    assert out.stages == []
    assert record.published_score == 20


def test_a_change_of_the_threshold_is_published_with_the_previous_published_score() -> None:
    record = lead(stage="lead", score=20, published_score=20)
    out = react(record, scored(record, 25))
    [event] = events(out)
    assert event.payload["previous_score"] == 20
    assert event.payload["score"] == 25


def test_crossing_the_mql_threshold_makes_an_mql_after_the_scored_event() -> None:
    record = lead(stage="lead", score=30, published_score=30)
    out = react(record, scored(record, 45))
    assert [e.type for e in events(out)] == ["lead.scored", "lead.lifecycle_changed"]
    assert out.stages[0]["stage"] == "mql"
    assert "score 45 >= 40" in out.stages[0]["reason"]
    assert out.stages[0]["score"] == 45
    assert out.stages[0]["model_version"] == "m1"


def test_an_anonymous_lead_with_a_high_score_stays_a_subscriber() -> None:
    record = lead(traits={})
    out = react(record, scored(record, 90), identified=False)
    assert [s["stage"] for s in out.stages] == ["subscriber"]


def test_a_recycled_lead_requalifies_only_when_its_score_crosses_anew() -> None:
    above = lead(stage="recycled", score=60, published_score=60)
    assert react(above, scored(above, 62)).stages == []
    below = lead(stage="recycled", score=30, published_score=30)
    assert [s["stage"] for s in react(below, scored(below, 62)).stages] == ["mql"]


def test_the_same_cause_gives_the_same_event_ids() -> None:
    ids = []
    for _ in range(2):
        record = lead()
        ids.append([e.id for e in events(react(record, scored(record, 50)))])
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == len(ids[0])


def test_a_configured_track_event_moves_the_lead_with_the_deal_amount() -> None:
    record = lead(stage="mql", score=50)
    out = Outcome()
    react_to_track(record, "Deal Won", {"revenue": 1200}, config=CONFIG, at=T0, cause="e", out=out)
    [event] = events(out)
    assert event.payload["to_stage"] == "customer"
    assert event.payload["actor"] == "event"
    assert event.payload["amount"] == 1200.0
    out = Outcome()
    react_to_track(record, "Deal Created", {}, config=CONFIG, at=T0, cause="e2", out=out)
    assert out.events == []  # never backwards


def test_the_amount_of_a_deal() -> None:
    assert amount_of({"amount": 5, "revenue": 7}) == 5.0
    assert amount_of({"value": 2.5}) == 2.5
    assert amount_of({"amount": True, "revenue": "12"}) is None
    assert amount_of({}) is None


def test_a_merged_lead_that_got_further_takes_the_survivor_to_its_stage() -> None:
    survivor, folded = lead(stage="lead"), lead(id="ld_2", stage="sql")
    out = Outcome()
    adopt_stage(survivor, folded, T0, uuid.uuid4(), out)
    assert [e.type for e in events(out)] == ["lead.merged", "lead.lifecycle_changed"]
    assert survivor.stage == "sql"
    assert out.stages[0]["actor"] == "merge"
    behind = lead(id="ld_3", stage="subscriber")
    out = Outcome()
    adopt_stage(survivor, behind, T0, uuid.uuid4(), out)
    assert [e.type for e in events(out)] == ["lead.merged"]
    assert survivor.stage == "sql"


def test_entering_a_stage_clears_the_stall_and_marks_the_lead_changed() -> None:
    record = lead(stage="mql", stalled_at=T0, stage_entered_at=T0 - timedelta(days=3))
    out = Outcome()
    enter(record, Move("mql", "sql", "accepted"), actor="sales", at=T0, cause="x", out=out)
    assert (record.stage, record.stage_entered_at, record.stalled_at) == ("sql", T0, None)
    assert record.changed
    assert out.stages[0]["actor"] == "sales"


def test_a_rescore_reacts_only_when_the_parts_or_the_model_changed() -> None:
    record = lead(score=40, fit=30, engagement=20, model_version="m1")
    assert not rescore_changes(record, (40, 30, 20), "m1")
    assert rescore_changes(record, (39, 30, 20), "m1")
    assert rescore_changes(record, (40, 30, 20), "m2")


def test_worth_publishing() -> None:
    assert worth_publishing(lead(score=3), CONFIG)
    assert not worth_publishing(lead(score=3, published_score=7), CONFIG)
    assert worth_publishing(lead(score=2, published_score=7), CONFIG)


@pytest.mark.parametrize(
    ("stage", "hours", "stalled"),
    [("mql", 47, False), ("mql", 48, True), ("sql", 24 * 30, True), ("lead", 10**5, False)],
)
def test_overstayed(stage: str, hours: int, stalled: bool) -> None:
    reason = overstayed(stage, T0 - timedelta(hours=hours), CONFIG, T0)
    assert (reason is not None) is stalled
