"""Training and evaluating the conversion model, from a stream of Segment messages.

Rows are built with the very code live scoring uses (features.FeatureState and vector), so
there is no training/serving skew. A person's row is their state just before they converted
(the conversion event itself is never a feature), or after their last activity if they did
not. The split is by time: the earliest 75% of people (by first visit) train, the rest test.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from services.scoring.domain.features import FeatureState, Vector, vector
from services.scoring.domain.scorer import ModelBundle, spread
from services.scoring.domain.segment_time import parse

CONVERSION_EVENT = "Deal Won"


@dataclass
class Example:
    key: str
    first_seen: datetime
    features: Vector
    label: int
    p_true: float | None = None


@dataclass
class _Person:
    state: FeatureState = field(default_factory=FeatureState)
    traits: dict[str, Any] = field(default_factory=dict)
    converted: bool = False


def examples(
    messages: Iterable[dict[str, Any]],
    *,
    conversion_event: str = CONVERSION_EVENT,
    truth: dict[str, float] | None = None,
) -> list[Example]:
    """One row per person; a browser is attributed to the userId it was identified as."""
    messages = sorted(messages, key=lambda m: m["timestamp"])
    owner = {
        m["anonymousId"]: str(m["userId"])
        for m in messages
        if m["type"] in ("identify", "alias") and m.get("userId") and m.get("anonymousId")
    }
    people: dict[str, _Person] = {}
    for m in messages:
        key = str(m.get("userId") or owner.get(m.get("anonymousId"), m.get("anonymousId")))
        person = people.setdefault(key, _Person())
        if person.converted:
            continue
        if m["type"] == "track" and m.get("event") == conversion_event:
            person.converted = True
            continue
        if m["type"] == "identify":
            person.traits.update(m.get("traits") or {})
        person.state.add(m["type"], m, parse(m["timestamp"]))
    return _rows(((key, p.state, p.traits, p.converted) for key, p in people.items()), truth or {})


@dataclass
class History:
    """One stored lead's events in time order (type, payload, when) and its outcome."""

    key: str
    events: list[tuple[str, dict[str, Any], datetime]]
    traits: dict[str, Any]
    converted_at: datetime | None


def examples_from_histories(histories: Iterable[History]) -> list[Example]:
    """Rows from the scoring database's own leads: each replayed through the same feature
    code up to (not including) the moment it converted."""
    people = []
    for h in histories:
        state = FeatureState()
        for event_type, payload, at in h.events:
            if h.converted_at is not None and at >= h.converted_at:
                break
            state.add(event_type, payload, at)
        people.append((h.key, state, h.traits, h.converted_at is not None))
    return _rows(people, {})


def _rows(
    people: Iterable[tuple[str, FeatureState, dict[str, Any], bool]], truth: dict[str, float]
) -> list[Example]:
    """A row is a person as of their last activity before converting (or at all). Rows are
    never cut at a label-dependent moment: that would leak the outcome through timing."""
    rows = []
    for key, state, traits, converted in people:
        if state.last_seen is None:
            continue
        rows.append(
            Example(
                key=key,
                first_seen=datetime.fromisoformat(str(state.first_seen)),
                features=vector(state, traits),
                label=int(converted),
                p_true=truth.get(key),
            )
        )
    return sorted(rows, key=lambda e: e.first_seen)


def new_pipeline() -> Pipeline:
    """Mappings by input name in (features.Vector; categorical strings one-hot),
    standardised, logistic regression out: its coefficients on standardised inputs are the
    per-factor explanations."""
    return Pipeline(
        [
            ("vectorize", DictVectorizer(sparse=False)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=0.5, max_iter=2000)),
        ]
    )


@dataclass
class Report:
    trained_on: int
    tested_on: int
    base_rate: float
    roc_auc: float
    pr_auc: float
    brier: float
    lift_top_decile: float
    calibration: list[dict[str, float]]
    truth_roc_auc: float | None = None

    def lines(self) -> list[str]:
        truth = (
            f" (true propensity: {self.truth_roc_auc:.3f}, the best any model can do)"
            if self.truth_roc_auc
            else ""
        )
        lines = [
            f"trained on {self.trained_on} people, tested on the {self.tested_on} who came later",
            f"conversion rate in test: {self.base_rate:.1%}",
            f"ROC AUC {self.roc_auc:.3f}{truth}",
            f"PR AUC {self.pr_auc:.3f}   Brier {self.brier:.4f}   "
            f"lift in top decile {self.lift_top_decile:.2f}x",
            "calibration (predicted -> observed, by decile of score):",
        ]
        lines += [
            f"  {c['predicted']:.3f} -> {c['observed']:.3f}  (n={int(c['count'])})"
            for c in self.calibration
        ]
        return lines


def train(
    rows: Sequence[Example],
    *,
    version: str,
    test_share: float = 0.25,
) -> tuple[ModelBundle, Report, dict[str, Any]]:
    """Fit on the earlier people, evaluate on the later ones."""
    cut = int(len(rows) * (1 - test_share))
    train_rows, test_rows = rows[:cut], rows[cut:]
    y_train = np.array([r.label for r in train_rows])
    y_test = np.array([r.label for r in test_rows])
    if len(set(y_train)) < 2 or len(set(y_test)) < 2:
        raise ValueError(
            "need converted and unconverted people in both the training and the test period"
        )
    pipeline = new_pipeline().fit([r.features for r in train_rows], y_train)
    bundle = ModelBundle(version=version, pipeline=pipeline)
    spread(bundle, [r.features for r in train_rows])
    p_test = pipeline.predict_proba([r.features for r in test_rows])[:, 1]
    truth = [r.p_true for r in test_rows]
    truth_auc = float(roc_auc_score(y_test, truth)) if all(t is not None for t in truth) else None
    report = Report(
        trained_on=len(train_rows),
        tested_on=len(test_rows),
        base_rate=float(y_test.mean()),
        roc_auc=float(roc_auc_score(y_test, p_test)),
        pr_auc=float(average_precision_score(y_test, p_test)),
        brier=float(brier_score_loss(y_test, p_test)),
        lift_top_decile=_lift(y_test, p_test),
        calibration=_calibration(y_test, p_test),
        truth_roc_auc=truth_auc,
    )
    curves = {"y": y_test, "p": p_test, "truth": truth if truth_auc is not None else None}
    return bundle, report, curves


def _lift(y: np.ndarray, p: np.ndarray) -> float:
    top = np.argsort(-p)[: max(1, math.ceil(len(p) / 10))]
    return float(y[top].mean() / y.mean())


def _calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    order = np.argsort(p)
    return [
        {
            "predicted": float(p[chunk].mean()),
            "observed": float(y[chunk].mean()),
            "count": float(len(chunk)),
        }
        for chunk in np.array_split(order, bins)
        if len(chunk)
    ]
