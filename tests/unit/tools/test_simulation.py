from datetime import UTC, datetime

from tools.simulation.simulate import fit_of, simulate, true_propensity

END = datetime(2026, 6, 1, tzinfo=UTC)


def auc(scores: list[float], labels: list[bool]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def test_the_same_seed_gives_the_same_traffic() -> None:
    assert simulate(200, seed=1, end=END).messages == simulate(200, seed=1, end=END).messages
    assert simulate(200, seed=1, end=END).messages != simulate(200, seed=2, end=END).messages


def test_the_documented_propensity_is_what_decides_conversion() -> None:
    sim = simulate(3000, seed=11, end=END)
    rate = sum(p.converted for p in sim.people) / len(sim.people)
    assert 0.05 < rate < 0.3
    for p in sim.people[:50]:
        assert p.p_true == true_propensity(p.fit, p.intent)
    # The truth ranks outcomes far better than chance: the ceiling a model is compared with.
    assert auc([p.p_true for p in sim.people], [p.converted for p in sim.people]) > 0.8
    assert fit_of(5, 10_000, False) > fit_of(1, 1, True)


def test_messages_are_valid_segment_and_conversions_carry_amounts() -> None:
    sim = simulate(300, seed=5, end=END)
    stamps = [m["timestamp"] for m in sim.messages]
    assert stamps == sorted(stamps)
    assert all(m.get("anonymousId") or m.get("userId") for m in sim.messages)
    assert len({m["messageId"] for m in sim.messages}) == len(sim.messages)
    won = [m for m in sim.messages if m.get("event") == "Deal Won"]
    assert len(won) == sum(p.converted for p in sim.people)
    assert all(m["properties"]["amount"] > 0 for m in won)
    assert all(m.get("anonymousId") and m.get("userId") for m in won)  # joins the browser's history
