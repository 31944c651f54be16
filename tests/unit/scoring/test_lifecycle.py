import pytest

from services.scoring.domain.config import ScoringConfig, Thresholds
from services.scoring.domain.lifecycle import NotAllowed, automatic, by_hand, on_event

CONFIG = ScoringConfig(thresholds=Thresholds(mql_score=60, mql_fit=40))


def moves(stage: str | None, **kw: object) -> list[tuple[str | None, str]]:
    args = {"identified": True, "score": 0, "fit": 0, "previous_score": None, **kw}
    return [(m.from_stage, m.to_stage) for m in automatic(stage, config=CONFIG, **args)]  # type: ignore[arg-type]


def test_a_new_person_is_a_subscriber_then_a_lead_once_known() -> None:
    assert moves(None, identified=False) == [(None, "subscriber")]
    assert moves(None) == [(None, "subscriber"), ("subscriber", "lead")]
    assert moves("subscriber", identified=False, score=90, fit=90) == []


def test_mql_needs_both_score_and_fit_and_identity() -> None:
    assert moves("lead", score=60, fit=40) == [("lead", "mql")]
    assert moves("lead", score=59, fit=90) == []
    assert moves("lead", score=90, fit=39) == []
    assert moves(None, score=70, fit=50) == [
        (None, "subscriber"),
        ("subscriber", "lead"),
        ("lead", "mql"),
    ]
    relaxed = ScoringConfig(
        thresholds=Thresholds(mql_score=60, mql_fit=0, mql_requires_identity=False)
    )
    found = automatic(
        "subscriber", identified=False, score=70, fit=0, previous_score=None, config=relaxed
    )
    assert [(m.from_stage, m.to_stage) for m in found] == [("subscriber", "mql")]


def test_automatic_moves_never_go_back() -> None:
    for stage in ("mql", "sql", "opportunity", "customer", "disqualified"):
        assert moves(stage, score=0, fit=0) == []
        assert moves(stage, score=100, fit=100) == []


def test_a_recycled_lead_requalifies_only_on_a_new_crossing() -> None:
    assert moves("recycled", score=80, fit=80, previous_score=75) == []
    assert moves("recycled", score=80, fit=80, previous_score=50) == [("recycled", "mql")]


def test_configured_events_move_forward_only() -> None:
    assert [m.to_stage for m in on_event("mql", "Deal Won", CONFIG)] == ["customer"]
    assert [m.to_stage for m in on_event("lead", "Deal Created", CONFIG)] == ["opportunity"]
    assert on_event("customer", "Deal Created", CONFIG) == []
    assert on_event("mql", "Something Else", CONFIG) == []
    assert [m.to_stage for m in on_event("disqualified", "Deal Won", CONFIG)] == ["customer"]


def test_sales_decide_on_mqls_with_reasons() -> None:
    assert by_hand("mql", "sql", "").reason == "accepted by sales"
    assert by_hand("mql", "recycled", "not now, budget in Q3").to_stage == "recycled"
    with pytest.raises(NotAllowed, match="reason is required"):
        by_hand("mql", "disqualified", "  ")
    with pytest.raises(NotAllowed, match="this lead is lead"):
        by_hand("lead", "sql", "")
    with pytest.raises(NotAllowed, match="set automatically"):
        by_hand("lead", "mql", "")
    with pytest.raises(NotAllowed, match="already customer"):
        by_hand("customer", "opportunity", "")
    assert by_hand("sql", "opportunity", "").to_stage == "opportunity"
