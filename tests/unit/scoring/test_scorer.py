import random
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from services.scoring.domain import publishing, training
from services.scoring.domain.explain import group_of, words
from services.scoring.domain.features import Vector
from services.scoring.domain.scorer import ModelBundle, factors, score_many
from services.scoring.workers.live_models import default_bundle
from tools.simulation.simulate import simulate


@pytest.fixture(scope="module")
def rows() -> list[Vector]:
    sim = simulate(400, seed=3, end=datetime(2026, 6, 1, tzinfo=UTC))
    return [r.features for r in training.examples(sim.messages)]


def test_batch_scores_equal_the_pipeline_and_single_rows(rows: list[Vector]) -> None:
    bundle = default_bundle()
    batch = score_many(bundle, rows)
    expected = bundle.pipeline.predict_proba(rows)[:, 1]
    assert np.allclose(batch.probability, expected)
    # Each input's contribution: bit for bit the pipeline's own steps on the same Vectors,
    # and on the same rows as plain dicts.
    steps = bundle.pipeline.named_steps
    for batch_rows in (rows, [r.as_dict() for r in rows]):
        scaled = steps["scale"].transform(steps["vectorize"].transform(batch_rows))
        assert np.array_equal(
            score_many(bundle, batch_rows).contributions, scaled * steps["model"].coef_[0]
        )
    single = [score_many(bundle, [r]).probability[0] for r in rows[:20]]
    assert np.allclose(single, batch.probability[:20])
    assert ((batch.score >= 0) & (batch.score <= 100)).all()
    assert ((batch.fit >= 0) & (batch.fit <= 100)).all()


def test_the_bundle_survives_the_registry_round_trip(rows: list[Vector]) -> None:
    bundle = default_bundle()
    again = ModelBundle.from_bytes(bundle.to_bytes(), "m-copy")
    assert again.version == "m-copy"
    assert np.array_equal(score_many(again, rows).score, score_many(bundle, rows).score)


def test_idle_leads_fade_towards_doing_nothing_but_keep_their_fit(
    rows: list[Vector],
) -> None:
    bundle = default_bundle()
    keen = max(rows, key=lambda r: r["high_intent_90d"])  # type: ignore[arg-type,return-value]
    now, later, much_later = score_many(bundle, [keen] * 3, [0, 30, 3000], half_life_days=30).score
    assert now > later > much_later
    faded = score_many(bundle, [keen], [30], half_life_days=30)
    assert faded.fit[0] == score_many(bundle, [keen]).fit[0]
    idle = {**keen, **{k: 0 for k, v in keen.items() if isinstance(v, int | float)}}
    idle.update({k: keen[k] for k in ("seniority", "log_company_size", "has_email", "free_mail")})
    assert much_later == score_many(bundle, [idle]).score[0]  # nothing left to fade
    found = factors(bundle, faded, 0, keen)
    assert any(f.name == "inactivity" and f.points < 0 and "30 days" in f.text for f in found)


def test_factors_are_grouped_and_worded() -> None:
    assert group_of("pricing_views_7d") == "pricing_views"
    assert group_of("industry=retail") == "industry"
    row = {"pricing_views_7d": 3, "pricing_views_30d": 3, "pricing_views_90d": 5}
    assert words("pricing_views", row) == "viewed pricing 3 times in 7 days (5 in 90 days)"
    assert words("demo_views", {}) == "never viewed the demo page in the last 90 days"
    assert words("free_mail", {"has_email": 1, "free_mail": 1}) == "uses a free-mail address"
    assert words("seniority", {"seniority": 4}) == "job title: vice president"


def test_the_matrix_is_what_the_pipelines_vectorizer_gives(rows: list[Vector]) -> None:
    """The batch matrix (Vectors' numbers taken in C) against DictVectorizer, on the
    simulated rows and on plain dicts (made Vectors first): in any key order, with unknown
    categories and inputs missing, mixed with Vectors."""
    bundle = default_bundle()
    odd: list[dict[str, object]] = [
        {**rows[0], "industry": "no such industry"},
        {k: v for k, v in rows[1].items() if k not in ("country", "visits_7d")},
        {"seniority": 3},
        {},
        {**rows[2], "visits_7d": 2.5},  # counts that are not integers
    ]
    shuffled = [dict(random.Random(k).sample(list(r.items()), len(r))) for k, r in enumerate(rows)]
    reversed_first = [dict(reversed(list(rows[0].items()))), *rows[1:50]]
    lacking_first = [{"visits_7d": 2, "seniority": 1}, *rows[:50], {}]
    mixed = [*rows[:20], *odd, *rows[20:40]]
    assert bundle.prepared.matrix([]).shape == (0, len(bundle.prepared.names))
    batches = (rows, odd, odd[:1], shuffled, reversed_first, lacking_first, odd[::-1], mixed)
    for batch in batches:
        expected = bundle.pipeline.named_steps["vectorize"].transform(batch)
        expected = expected.toarray() if hasattr(expected, "toarray") else expected
        assert np.array_equal(bundle.prepared.matrix(batch), expected)
        scores = score_many(bundle, batch)
        again = [score_many(bundle, [row]) for row in batch[:5]]
        assert [s.contributions[0].tolist() for s in again] == scores.contributions[:5].tolist()


def test_a_model_with_other_inputs_than_vectors_have(rows: list[Vector]) -> None:
    """A model trained without some of a Vector's inputs (ignored) and with inputs Vectors
    lack (0, as DictVectorizer reads a missing name): the matrix is still DictVectorizer's."""
    dropped = {"careers_views_7d", "total_events", "country"}
    train = [
        {
            **{k: v for k, v in r.items() if k not in dropped},
            "mystery": float(i % 3),
            "plan": "pro" if i % 2 else "free",
        }
        for i, r in enumerate(rows)
    ]
    pipeline = training.new_pipeline().fit(train, [i % 2 for i in range(len(train))])
    bundle = ModelBundle("m-other", pipeline)
    vectorize = pipeline.named_steps["vectorize"]
    for batch in (rows, train[:30], [*rows[:10], *train[:10]]):
        assert np.array_equal(
            bundle.prepared.matrix(batch),
            vectorize.transform([Vector.from_mapping(r) for r in batch]),
        )
    assert np.array_equal(bundle.prepared.matrix(rows), vectorize.transform(rows))
    expected = pipeline.predict_proba(rows)[:, 1]
    assert np.allclose(score_many(bundle, rows).probability, expected)


def test_categorical_values_that_are_not_text_are_looked_up_as_their_text(
    rows: list[Vector],
) -> None:
    bundle = default_bundle()
    text = [{**rows[0], "industry": "7"}, {**rows[1], "country": "None"}, rows[2]]
    other = [{**rows[0], "industry": 7}, {**rows[1], "country": None}, {**rows[2], "country": [1]}]
    matrix = bundle.prepared.matrix
    assert np.array_equal(matrix(other), matrix([*text[:2], {**rows[2], "country": "[1]"}]))
    assert np.array_equal(matrix(text), bundle.pipeline.named_steps["vectorize"].transform(text))


def test_event_ids_are_uuid5_of_their_parts() -> None:
    """publishing.event_id spells uuid5 out (a replay must give the ids earlier runs gave)."""
    rng = random.Random(3)
    for _ in range(3000):
        parts = [
            rng.choice(["ld_1a2b3c4d5e6f7a8b", "scored", "mql", "é", ""]),
            uuid.UUID(int=rng.getrandbits(128)),
            rng.choice([None, 7, "x" * rng.randrange(100), datetime(2026, 1, 1, tzinfo=UTC)]),
        ][: rng.randrange(1, 4)]
        expected = uuid.uuid5(publishing._IDS, ":".join(str(p) for p in parts))
        assert publishing.event_id(*parts) == expected


def test_cached_words_are_the_words_of_the_row(rows: list[Vector]) -> None:
    """words() caches by the inputs a group reads: the same text as reading the row, a
    Vector or its dict."""
    from services.scoring.domain.explain import COUNTED, _described

    odd = [{}, {"has_email": 1}, {"free_mail": 1}, {"log_company_size": 2.0}, {"industry": "X"}]
    for vector in rows:
        for group in COUNTED:
            assert words(group, vector) == words(group, vector.as_dict())
    for row in [*rows, *odd]:
        for group in ("total_events", "seniority", "log_company_size", "has_email", "free_mail"):
            assert words(group, row) == _described(group, row)
        for group in ("industry", "country", "something_else"):
            assert words(group, row) == _described(group, row)
    assert words("visits", {"visits_7d": 0, "visits_30d": 2, "visits_90d": 2}) == (
        "visited the site 2 times in 30 days"
    )
    assert words("visits", {"visits_7d": 1, "visits_30d": 1, "visits_90d": 4.0}) == (
        "visited the site once in 7 days (4 in 90 days)"
    )
