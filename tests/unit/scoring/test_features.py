import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from sklearn.feature_extraction import DictVectorizer

from services.scoring.domain.features import (
    CATEGORICAL_INPUTS,
    NUMERIC_INPUTS,
    FeatureState,
    Vector,
    counters_of,
    page_category,
    seniority,
    vector,
)

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def test_pages_are_categorised_and_high_intent_is_noted() -> None:
    assert page_category({"properties": {"path": "/pricing"}}) == "pricing"
    assert page_category({"name": "Book a demo"}) == "demo"
    assert page_category({"properties": {"url": "https://x.example/careers/eng"}}) == "careers"
    assert page_category({"properties": {"path": "/"}}) == "other"
    assert counters_of("page", {"properties": {"path": "/pricing"}}) == [
        "type:page",
        "page:pricing",
        "high_intent",
    ]
    assert counters_of("track", {"event": "Demo Form Submitted"}) == [
        "type:track",
        "form_fill",
        "high_intent",
    ]
    assert counters_of("email.clicked", {}) == ["type:email.clicked"]


def test_windows_count_the_days_before_the_last_activity() -> None:
    state = FeatureState()
    for days in (1, 3, 20, 60):
        state.add("page", {"properties": {"path": "/pricing"}}, ago(days))
    state.add("email.opened", {}, ago(2))
    f = vector(state, {})
    assert (f["pricing_views_7d"], f["pricing_views_30d"], f["pricing_views_90d"]) == (2, 3, 4)
    assert f["email_opens_7d"] == 1
    assert f["total_events"] == 5


def test_old_days_are_forgotten_but_totals_kept() -> None:
    state = FeatureState()
    state.add("page", {}, ago(200))
    state.add("page", {}, ago(1))
    assert len(state.daily) == 1
    assert state.totals["type:page"] == 2
    assert vector(state, {})["visits_90d"] == 1


def test_state_is_the_same_whatever_the_route_json_or_merge() -> None:
    a, b = FeatureState(), FeatureState()
    a.add("page", {"properties": {"path": "/docs"}}, ago(5))
    b.add("track", {"event": "Signed Up"}, ago(3))
    b.add("page", {"properties": {"path": "/pricing"}}, ago(1))
    one = FeatureState()
    for kind, payload, at in (
        ("page", {"properties": {"path": "/docs"}}, ago(5)),
        ("track", {"event": "Signed Up"}, ago(3)),
        ("page", {"properties": {"path": "/pricing"}}, ago(1)),
    ):
        one.add(kind, payload, at)
    a.merge(FeatureState.from_json(b.as_json()))
    assert a.as_json() == one.as_json()
    assert vector(a, {}) == vector(one, {})


def test_traits_become_fit_features() -> None:
    traits = {
        "title": "VP Marketing",
        "email": "ada@acme.example",
        "company": {"employees": 1000, "industry": "Software"},
        "country": "fr",
    }
    f = vector(FeatureState(), traits)
    assert f["seniority"] == 4
    assert f["log_company_size"] == 3.0
    assert (f["has_email"], f["free_mail"]) == (1, 0)
    assert (f["industry"], f["country"]) == ("software", "FR")
    assert vector(FeatureState(), {"email": "bob@gmail.com"})["free_mail"] == 1
    assert [
        seniority(t)
        for t in ("Co-founder & CEO", "Head of Growth", "Account Manager", "Engineer", None)
    ] == [5, 3, 2, 1, 0]


def test_counts_kept_up_to_date_by_add_equal_a_full_recount() -> None:
    """`add` keeps vector's counts up to date while the last day stays: on random events
    (same day, new days, late ones, some older than the window, merges) the vector always
    equals one counted from scratch."""
    rng = random.Random(5)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    kinds = [
        ("page", {"properties": {"path": "/pricing"}}),
        ("page", {"name": "Blog"}),
        ("screen", {"name": "Book a demo"}),
        ("track", {"event": "Form Submitted"}),
        ("identify", {}),
        ("email.opened", {}),
        ("email.clicked", {}),
    ]
    for _ in range(60):
        state, other = FeatureState(), FeatureState()
        clock = start + timedelta(days=rng.randrange(200))
        for _ in range(rng.randrange(1, 80)):
            step = rng.random()
            if step < 0.5:
                clock += timedelta(minutes=rng.randrange(90))
                at = clock
            elif step < 0.7:
                clock += timedelta(days=rng.randrange(1, 40))
                at = clock
            else:  # a late event, sometimes older than the window
                at = clock - timedelta(days=rng.randrange(0, 120), minutes=rng.randrange(600))
            kind, payload = rng.choice(kinds)
            (other if rng.random() < 0.1 else state).add(kind, payload, at)
            if rng.random() < 0.03:
                state.merge(other)
                other = FeatureState()
            again = FeatureState.from_json(json.loads(json.dumps(state.as_json())))
            assert vector(state, {}) == vector(again, {})


def test_a_vector_is_a_read_only_mapping_by_input_name() -> None:
    """The scorer reads a Vector's lists; everything else reads it as the dict of its inputs
    (DictVectorizer sees the same items, so trains the same model)."""
    state = FeatureState()
    state.add("page", {"properties": {"path": "/pricing"}}, ago(2))
    state.add("track", {"event": "Demo Requested"}, ago(1))
    traits = {"title": "CTO", "email": "a@b.example", "industry": "Retail", "employees": 40}
    v = vector(state, traits)
    assert list(v) == [*NUMERIC_INPUTS, *CATEGORICAL_INPUTS] == list(v.as_dict())
    assert len(v) == len(NUMERIC_INPUTS) + len(CATEGORICAL_INPUTS)
    assert list(v.items()) == list(v.as_dict().items())
    assert v == v.as_dict()
    assert v.as_dict() == v
    assert v == Vector.from_mapping(v.as_dict())
    assert v != {**v.as_dict(), "visits_7d": 5}
    assert v != {}
    assert v != [1]
    assert (v["pricing_views_7d"], v["high_intent_7d"], v["seniority"]) == (1, 2, 5)
    assert (v["industry"], v["country"], v.get("nothing", "-"), "nothing" in v) == (
        "retail",
        "UNKNOWN",
        "-",
        False,
    )
    with pytest.raises(KeyError):
        v["nothing"]
    assert {**v} == v.as_dict()
    rows = [v, vector(FeatureState(), {"country": "fr"})]
    one, other = DictVectorizer(sparse=False), DictVectorizer(sparse=False)
    assert (one.fit_transform(rows) == other.fit_transform([r.as_dict() for r in rows])).all()
    assert one.vocabulary_ == other.vocabulary_
    partial = Vector.from_mapping({"visits_7d": 2, "industry": 7, "other": 1})
    assert (partial["visits_7d"], partial["events_7d"], partial["industry"]) == (2, 0, "7")
    assert partial.counts.typecode == "q"  # type: ignore[union-attr]
    fractional = Vector.from_mapping({"visits_7d": 2.5, "seniority": 3})
    assert (fractional["visits_7d"], fractional["seniority"], fractional["visits_30d"]) == (
        2.5,
        3,
        0,
    )
    assert partial["country"] is None
    assert "other" not in partial


def test_a_vector_is_a_snapshot_of_the_state() -> None:
    """`add` updates the state's counts in place: a Vector made before keeps its own."""
    state = FeatureState()
    state.add("page", {"properties": {"path": "/pricing"}}, ago(1))
    before = vector(state, {})
    state.add("page", {"properties": {"path": "/pricing"}}, ago(1))
    assert (before["pricing_views_7d"], vector(state, {})["pricing_views_7d"]) == (1, 2)
    assert before.counts.typecode == "q"  # type: ignore[union-attr]
    assert before.numbers == [before[name] for name in NUMERIC_INPUTS]
