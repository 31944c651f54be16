import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.scoring.domain.rules import (
    MAX_RULES,
    EngagementRule,
    FitRule,
    LedgerEntry,
    RuleSet,
    current,
    evaluate,
    explain_ledger,
    scores,
)

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


def ruleset(*rules: dict[str, Any], caps: dict[str, float] | None = None) -> RuleSet:
    return RuleSet.model_validate({"rules": list(rules), "caps": caps or {}})


def fit(rule_id: str, trait: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": rule_id, "kind": "fit", "score": "fit_points", "points": 10}
    rule.update(trait=trait, op=op)
    if value is not None:
        rule["value"] = value
    return {**rule, **extra}


def engagement(rule_id: str, event_type: str, **extra: Any) -> dict[str, Any]:
    rule = {"id": rule_id, "kind": "engagement", "score": "engagement_points", "points": 10}
    return {**rule, "event_type": event_type, **extra}


def run(
    rules: RuleSet,
    ledger: list[LedgerEntry],
    at: datetime,
    event_type: str | None = None,
    payload: Mapping[str, Any] | None = None,
    traits: Mapping[str, Any] | None = None,
    event_id: str | None = None,
) -> list[LedgerEntry]:
    """Evaluate one event, append its entries to the ledger, return them."""
    new = evaluate(
        rules,
        ledger,
        event_type=event_type,
        payload=payload or {},
        traits=traits or {},
        event_id=event_id,
        at=at,
    )
    ledger.extend(new)
    return new


def page(path: str) -> dict[str, Any]:
    return {"properties": {"path": path}}


# --- fit operators ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "traits", "holds"),
    [
        ("eq", "US", {"country": "us "}, True),
        ("eq", "US", {"country": "DE"}, False),
        ("eq", "US", {}, False),
        ("ne", "US", {"country": "DE"}, True),
        ("ne", "US", {"country": "US"}, False),
        ("ne", "US", {}, False),  # unknown is not "other than US"
        ("in", ["US", "CA"], {"country": "ca"}, True),
        ("in", ["US", "CA"], {"country": "MX"}, False),
        ("contains", "market", {"country": "Head of Marketing"}, True),
        ("contains", "sales", {"country": "Head of Marketing"}, False),
        ("contains", "b", {"country": ["a", "B"]}, True),
        ("gte", 200, {"country": 200}, True),
        ("gte", 200, {"country": "1,500"}, True),
        ("gte", 200, {"country": 199.5}, False),
        ("gte", 200, {"country": "many"}, False),
        ("lte", 50, {"country": 50}, True),
        ("lte", 50, {"country": 51}, False),
        ("exists", None, {"country": "US"}, True),
        ("exists", None, {"country": ""}, False),
        ("exists", None, {"country": None}, False),
        ("exists", False, {}, True),
        ("exists", False, {"country": "US"}, False),
        ("matches", r"\bvp\b", {"country": "VP Sales"}, True),
        ("matches", r"\bvp\b", {"country": "MVP owner"}, False),
        ("matches", "^2", {"country": 250}, True),
    ],
)
def test_each_operator(op: str, value: Any, traits: dict[str, Any], holds: bool) -> None:
    rule = FitRule.model_validate(fit("r", "country", op, value))
    assert rule.holds(traits) is holds


def test_dotted_trait_paths_reach_nested_traits() -> None:
    rule = FitRule.model_validate(fit("big", "company.employees", "gte", 200))
    assert rule.holds({"company": {"employees": 300}})
    assert rule.holds({"company.employees": 300})  # a literal dotted key works too
    assert not rule.holds({"company": {"employees": 30}})
    assert not rule.holds({"company": "Acme"})


# --- engagement matching -------------------------------------------------------------------


def test_engagement_rules_match_type_event_path_and_properties() -> None:
    demo, pricing, clicked = (
        EngagementRule.model_validate(rule)
        for rule in (
            engagement("demo", "track", event="Requested Demo", properties={"plan": "pro"}),
            engagement("pricing", "page", path_contains="/Pricing"),
            engagement("clicked", "email.clicked", path_contains="webinar"),
        )
    )
    assert demo.matches("track", {"event": "requested demo ", "properties": {"plan": "pro"}})
    assert not demo.matches("track", {"event": "Requested Demo", "properties": {"plan": "Pro"}})
    assert not demo.matches("track", {"event": "Requested Demo"})
    assert not demo.matches("page", {"event": "Requested Demo", "properties": {"plan": "pro"}})
    assert pricing.matches("page", page("/pricing/enterprise"))
    assert pricing.matches("page", {"properties": {"url": "https://x.example/PRICING"}})
    assert pricing.matches("page", {"name": "See /pricing"})
    assert not pricing.matches("page", page("/blog"))
    assert not pricing.matches("screen", page("/pricing"))
    assert clicked.matches("email.clicked", {"url": "https://x.example/webinar?id=3"})


# --- once, every, decay, caps ----------------------------------------------------------------


def test_once_awards_only_the_first_match_and_every_awards_each() -> None:
    rules = ruleset(
        engagement("demo", "track", event="Requested Demo", repeat="once", points=30),
        engagement("any", "track", points=1),
    )
    ledger: list[LedgerEntry] = []
    for n in range(3):
        run(rules, ledger, days(n), "track", {"event": "Requested Demo"}, event_id=f"e{n}")
    assert [(e.rule_id, e.points, e.event_id) for e in ledger] == [
        ("demo", 30, "e0"),
        ("any", 1, "e0"),
        ("any", 1, "e1"),
        ("any", 1, "e2"),
    ]
    assert scores(rules, ledger, days(10)) == {"engagement_points": 33}
    assert ledger[0].reason == "Did 'Requested Demo': +30"


def test_points_halve_after_one_half_life() -> None:
    rules = ruleset(engagement("pricing", "page", path_contains="/pricing", half_life_days=7))
    ledger: list[LedgerEntry] = []
    (entry,) = run(rules, ledger, T0, "page", page("/pricing"))
    assert entry.reason == "Visited a page containing /pricing: +10"
    assert current(entry, T0) == 10
    assert current(entry, days(7)) == pytest.approx(5)
    assert current(entry, days(14)) == pytest.approx(2.5)
    assert current(entry, days(-1)) == 10  # never grows before it was written
    assert scores(rules, ledger, days(7))["engagement_points"] == pytest.approx(5)


def test_per_rule_cap_holds_the_rule_to_its_limit_and_frees_room_as_points_fade() -> None:
    rules = ruleset(engagement("pricing", "page", half_life_days=10, cap=25))
    ledger: list[LedgerEntry] = []
    awarded = [run(rules, ledger, T0, "page", page("/")) for _ in range(4)]
    assert [[e.points for e in new] for new in awarded] == [[10], [10], [5], []]
    assert awarded[2][0].reason == "Visited a page: +5 (of +10, held to this rule's cap of 25)"
    # After one half-life the rule holds 12.5: room for 10 more, then 2.5.
    later = [run(rules, ledger, days(10), "page", page("/")) for _ in range(2)]
    assert [e.points for new in later for e in new] == pytest.approx([10, 2.5])
    assert scores(rules, ledger, days(10))["engagement_points"] == pytest.approx(25)


def test_per_score_cap_holds_the_named_score() -> None:
    rules = ruleset(
        engagement("pages", "page", points=30),
        engagement("demo", "track", points=50),
        caps={"engagement_points": 100},
    )
    ledger: list[LedgerEntry] = []
    run(rules, ledger, T0, "page", page("/"))
    run(rules, ledger, T0, "page", page("/"))
    (demo,) = run(rules, ledger, T0, "track", {"event": "Requested Demo"})
    assert demo.points == 40
    assert demo.reason.endswith("(of +50, held to the engagement_points cap of 100)")
    assert run(rules, ledger, days(1), "page", page("/")) == []  # nothing awarded, no entry
    assert scores(rules, ledger, days(1)) == {"engagement_points": 100}


def test_negative_points_lower_the_score_and_are_capped_on_their_own_side() -> None:
    rules = ruleset(
        engagement("pages", "page", points=30),
        engagement("careers", "page", path_contains="/careers", points=-20, cap=30),
        fit("student", "title", "contains", "student", points=-50),
        caps={"engagement_points": 50},
    )
    ledger: list[LedgerEntry] = []
    new = run(rules, ledger, T0, "page", page("/careers"), {"title": "PhD Student"})
    assert [(e.rule_id, e.points) for e in new] == [  # in the rule set's order
        ("pages", 30),
        ("careers", -20),
        ("student", -50),
    ]
    assert new[1].reason == "Visited a page containing /careers: -20"
    assert new[2].reason == "Title contains 'student': -50"
    new = run(rules, ledger, days(1), "page", page("/careers"), {"title": "PhD Student"})
    assert [(e.rule_id, e.points) for e in new] == [("pages", 20), ("careers", -10)]
    assert scores(rules, ledger, days(2)) == {"engagement_points": 20, "fit_points": -50}


# --- fit rules: once while they hold, reversed when they stop --------------------------------


def test_fit_rules_hold_once_and_are_reversed_when_the_trait_changes() -> None:
    rules = ruleset(fit("vp", "title", "matches", "VP", points=15))
    ledger: list[LedgerEntry] = []
    assert [e.reason for e in run(rules, ledger, T0, traits={"title": "VP Sales"})] == [
        "Title matches 'VP': +15"
    ]
    assert run(rules, ledger, days(1), traits={"title": "SVP Sales"}) == []  # still holds
    (reversal,) = run(rules, ledger, days(2), traits={"title": "Engineer"})
    assert reversal.action == "reverse"
    assert reversal.points == -15
    assert reversal.reason == "Reversed: title no longer matches 'VP': -15"
    assert scores(rules, ledger, days(3)) == {"fit_points": 0}
    assert run(rules, ledger, days(3), traits={"title": "Engineer"}) == []
    # Holding again awards again; losing the trait altogether reverses with other words.
    assert [e.points for e in run(rules, ledger, days(4), traits={"title": "VP"})] == [15]
    (gone,) = run(rules, ledger, days(5), traits={})
    assert gone.reason == "Reversed: title is no longer known: -15"
    assert scores(rules, ledger, days(6)) == {"fit_points": 0}


def test_a_decaying_fit_rule_is_reversed_exactly_even_out_of_order() -> None:
    rules = ruleset(fit("big", "company.employees", "gte", 200, half_life_days=30))
    ledger: list[LedgerEntry] = []
    run(rules, ledger, days(10), traits={"company": {"employees": 500}})
    # An older event arrives later, after the company shrank: the reversal is dated with the
    # award so that both fade together and cancel at every later time.
    (reversal,) = run(rules, ledger, days(5), traits={"company": {"employees": 20}})
    assert reversal.at == days(10)
    assert reversal.reason == "Reversed: company employees is now below 200: -10"
    for later in (10, 20, 100, 1000):
        assert abs(scores(rules, ledger, days(later))["fit_points"]) < 1e-9


def test_a_removed_fit_rule_is_reversed() -> None:
    before = ruleset(fit("vp", "title", "matches", "VP", points=15))
    ledger: list[LedgerEntry] = []
    run(before, ledger, T0, traits={"title": "VP"})
    after = ruleset(fit("cxo", "title", "matches", "^c.o$", points=20, score="exec_points"))
    new = run(after, ledger, days(1), traits={"title": "VP"})
    assert [(e.rule_id, e.points, e.reason) for e in new] == [
        ("vp", -15, "Reversed: rule 'vp' was removed: -15")
    ]
    assert scores(after, ledger, days(1)) == {"exec_points": 0, "fit_points": 0}


def test_descriptions_replace_the_generated_words() -> None:
    rules = ruleset(
        fit("icp", "industry", "in", ["SaaS", "Fintech"], description="Ideal industry"),
        engagement("webinar", "track", event="Webinar Attended", description="Came to a webinar"),
    )
    ledger: list[LedgerEntry] = []
    run(rules, ledger, T0, "track", {"event": "Webinar Attended"}, {"industry": "saas"})
    run(rules, ledger, days(1), traits={"industry": "Retail"})
    assert [e.reason for e in ledger] == [
        "Ideal industry: +10",
        "Came to a webinar: +10",
        "Reversed: Ideal industry no longer applies: -10",
    ]


def test_explain_ledger_rows_sum_to_the_scores() -> None:
    rules = ruleset(
        fit("vp", "title", "matches", "VP"),
        engagement("pricing", "page", path_contains="/pricing", half_life_days=7),
    )
    ledger: list[LedgerEntry] = []
    run(rules, ledger, T0, "page", page("/pricing"), {"title": "VP"}, event_id="e1")
    explained = explain_ledger(rules, ledger, days(7))
    assert explained["engagement_points"] == [
        {
            "rule_id": "pricing",
            "reason": "Visited a page containing /pricing: +10",
            "points": 10,
            "current": pytest.approx(5),
            "at": T0,
            "event_id": "e1",
        }
    ]
    totals = scores(rules, ledger, days(7))
    for name, rows in explained.items():
        assert sum(row["current"] for row in rows) == totals[name]


def test_at_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        run(ruleset(), [], datetime(2026, 1, 1))


# --- validation --------------------------------------------------------------------------


def errors_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        RuleSet.model_validate(data)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


def test_an_invalid_regex_is_refused_with_its_path() -> None:
    ((loc, msg),) = errors_of({"rules": [fit("vp", "title", "matches", "(VP")]})
    assert loc == "rules.0.fit.value"
    assert "invalid regular expression '(VP'" in msg


def test_duplicate_ids_are_refused() -> None:
    ((loc, msg),) = errors_of({"rules": [fit("a", "x", "exists"), engagement("a", "page")]})
    assert loc == "rules"
    assert "duplicate rule id 'a' (rules 0 and 1)" in msg


def test_an_unknown_op_is_refused() -> None:
    ((loc, msg),) = errors_of({"rules": [fit("a", "title", "like", "VP")]})
    assert loc == "rules.0.fit.op"
    assert "'matches'" in msg


def test_a_fit_rule_needs_a_trait() -> None:
    rule = fit("a", "title", "eq", "VP")
    del rule["trait"]
    assert errors_of({"rules": [rule]}) == [("rules.0.fit.trait", "Field required")]


@pytest.mark.parametrize(
    ("rule", "loc", "message"),
    [
        (fit("a", "t", "eq", 1, repeat="every"), "rules.0.fit.repeat", "'once'"),
        (fit("a", "t", "gte", "many"), "rules.0.fit.value", "must be a number"),
        (fit("a", "t", "in", []), "rules.0.fit.value", "non-empty list"),
        (fit("a", "t", "eq", ["x"]), "rules.0.fit.value", "use 'in'"),
        (fit("a", "t", "eq"), "rules.0.fit", "needs a value"),
        (fit("a", "t", "exists", points=0), "rules.0.fit.points", "must not be 0"),
        (fit("A b", "t", "exists"), "rules.0.fit.id", "pattern"),
        (fit("a", "t", "exists", half_life_days=0), "rules.0.fit.half_life_days", "greater than 0"),
        (fit("a", "t", "exists", cap=-1), "rules.0.fit.cap", "greater than 0"),
        (fit("a", "t", "exists", halflife=3), "rules.0.fit.halflife", "Extra inputs"),
        (engagement("a", "pages"), "rules.0.engagement.event_type", "unknown event_type"),
        (engagement("a", "page", event="Signup"), "rules.0.engagement", "needs event_type"),
        (engagement("a", "track", path_contains="/x"), "rules.0.engagement", "path_contains"),
        ({"id": "a", "kind": "model", "points": 1}, "rules.0", "'fit', 'engagement'"),
    ],
)
def test_rule_errors_say_where_and_what(rule: dict[str, Any], loc: str, message: str) -> None:
    errors = errors_of({"rules": [rule]})
    assert any(where == loc and message in msg for where, msg in errors), errors


def test_rule_set_limits() -> None:
    too_many = [fit(f"r{n}", "t", "exists") for n in range(MAX_RULES + 1)]
    ((loc, msg),) = errors_of({"rules": too_many})
    assert loc == "rules"
    assert str(MAX_RULES) in msg
    ((loc, msg),) = errors_of({"rules": [fit("a", "t", "exists")], "caps": {"typo": 10}})
    assert "no rule feeds a score named 'typo'" in msg
    ((loc, msg),) = errors_of({"rules": [fit("a", "t", "exists")], "caps": {"fit_points": 0}})
    assert "positive" in msg


# --- the ledger explains the score, and caps hold, over many random events ----------------

RANDOM_RULES = ruleset(
    fit("vp", "title", "matches", "VP", points=15, score="total"),
    fit("small", "company.employees", "lte", 50, points=-10, score="total"),
    fit("us", "country", "eq", "US", points=5, half_life_days=20, score="total", cap=5),
    engagement("pricing", "page", path_contains="/pricing", half_life_days=7, cap=40),
    engagement("pages", "page", points=2, half_life_days=3, score="total"),
    engagement("demo", "track", event="Requested Demo", repeat="once", points=40),
    engagement("careers", "page", path_contains="/careers", points=-15, half_life_days=10),
    engagement("opened", "email.opened", points=3, half_life_days=14, score="total"),
    engagement("unsub", "email.unsubscribed", points=-30, score="total", cap=60),
    caps={"engagement_points": 60, "total": 35},
)
CAPS: dict[str, float] = {rule.id: rule.cap for rule in RANDOM_RULES.rules if rule.cap}


def random_event(rng: random.Random) -> tuple[str | None, dict[str, Any]]:
    kind = rng.choice(["page", "page", "page", "track", "email.opened", "email.unsubscribed", None])
    if kind == "page":
        return kind, page(rng.choice(["/pricing", "/careers/eng", "/blog", "/pricing/team"]))
    if kind == "track":
        return kind, {"event": rng.choice(["Requested Demo", "Signed Up"])}
    return kind, {}


def random_traits(rng: random.Random) -> dict[str, Any]:
    traits: dict[str, Any] = {}
    if rng.random() < 0.6:
        traits["title"] = rng.choice(["VP Sales", "Engineer", "SVP", "Intern"])
    if rng.random() < 0.6:
        traits["company"] = {"employees": rng.choice([10, 40, 51, 500])}
    if rng.random() < 0.5:
        traits["country"] = rng.choice(["US", "us", "DE"])
    return traits


def check_invariants(ledger: Sequence[LedgerEntry], traits: dict[str, Any], now: datetime) -> None:
    totals = scores(RANDOM_RULES, ledger, now)
    explained = explain_ledger(RANDOM_RULES, ledger, now)
    for name, rows in explained.items():
        # The ledger explains the score exactly (same entries, same order of addition).
        assert sum(row["current"] for row in rows) == totals[name]
        by_entries = 0.0
        for entry in ledger:
            if entry.score == name:
                by_entries += current(entry, now)
        assert by_entries == totals[name]
        if name in RANDOM_RULES.caps:
            assert abs(totals[name]) <= RANDOM_RULES.caps[name] + 1e-9
    for rule_id, cap in CAPS.items():
        rule_total = sum(current(e, now) for e in ledger if e.rule_id == rule_id)
        assert abs(rule_total) <= cap + 1e-9
    # Fit rules contribute exactly their (capped) award while they hold, nothing otherwise.
    for rule in RANDOM_RULES.rules:
        if isinstance(rule, FitRule) and rule.half_life_days is None:
            total = sum(current(e, now) for e in ledger if e.rule_id == rule.id)
            if not rule.holds(traits):
                assert abs(total) < 1e-9
    # "once" means once.
    assert sum(1 for e in ledger if e.rule_id == "demo") <= 1


@pytest.mark.parametrize("seed", range(40))
def test_the_ledger_sums_to_the_score_and_caps_hold_over_random_events(seed: int) -> None:
    rng = random.Random(seed)
    ledger: list[LedgerEntry] = []
    now = T0
    traits = random_traits(rng)
    for n in range(150):
        now += timedelta(hours=rng.expovariate(1 / 20))
        if rng.random() < 0.15:
            traits = random_traits(rng)
        event_type, payload = random_event(rng)
        # Now and then an event arrives late, dated before the latest one.
        at = now - timedelta(days=rng.uniform(0, 3)) if rng.random() < 0.1 else now
        run(RANDOM_RULES, ledger, at, event_type, payload, traits, event_id=f"{seed}-{n}")
        check_invariants(ledger, traits, now)
        # Caps also hold between events, as points fade.
        check_invariants(ledger, traits, now + timedelta(days=rng.uniform(0, 30)))
    assert len({e.rule_id for e in ledger}) >= 6  # the random events exercised most rules
