"""Scoring leads with a trained model, many at once, and saying why.

A `ModelBundle` is what the registry stores: the scikit-learn pipeline (one-hot +
standardise + logistic regression) and the spread of the fit and engagement parts on the
training people (to show each part on 0-100).

Because the model is linear in standardised inputs, each input's contribution to the
log-odds is exact: fit = the sum over who-they-are inputs, engagement = the sum over
what-they-did inputs, and a factor's points are how much lower the score would be without
it. One matrix product scores a whole batch (`score_many`); a single lead is a batch of one.

Decay: the model scores a lead as of its last activity. When it has been idle since, each
engagement input's contribution fades towards what it would be had the lead done nothing,
halving every `half_life_days` (a workspace setting); fit does not fade. At zero idle days
the score is exactly the model's.
"""

from __future__ import annotations

import functools
import io
import itertools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import joblib
import numpy as np
from sklearn.pipeline import Pipeline

from services.scoring.domain.explain import group_of, words
from services.scoring.domain.features import (
    CATEGORICAL_INPUTS,
    COUNTED_INPUTS,
    FIT_NUMBERS,
    Vector,
    is_fit,
)


@dataclass
class ModelBundle:
    version: str
    pipeline: Pipeline
    fit_range: tuple[float, float] = (-1.0, 1.0)
    engagement_range: tuple[float, float] = (-1.0, 1.0)
    _prepared: _Prepared | None = field(default=None, repr=False, compare=False)

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        joblib.dump(
            {
                "version": self.version,
                "pipeline": self.pipeline,
                "fit_range": self.fit_range,
                "engagement_range": self.engagement_range,
            },
            out,
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, version: str | None = None) -> ModelBundle:
        raw = joblib.load(io.BytesIO(data))
        return cls(
            version=version or raw["version"],
            pipeline=raw["pipeline"],
            fit_range=(float(raw["fit_range"][0]), float(raw["fit_range"][1])),
            engagement_range=(
                float(raw["engagement_range"][0]),
                float(raw["engagement_range"][1]),
            ),
        )

    @property
    def prepared(self) -> _Prepared:
        if self._prepared is None:
            self._prepared = _Prepared.of(self.pipeline)
        return self._prepared


@dataclass
class _Prepared:
    """The pipeline's steps taken apart once, for fast batch arithmetic."""

    vocabulary: dict[str, int]
    names: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    fit_mask: np.ndarray
    groups: list[str]  # the factor each input belongs to
    group_names: list[str]  # the factors, in order
    group_columns: np.ndarray  # the inputs, ordered by the factor they belong to
    group_starts: np.ndarray  # where each factor's inputs start in group_columns
    idle_contribution: np.ndarray  # each input's contribution for a lead that did nothing

    @classmethod
    def of(cls, pipeline: Pipeline) -> _Prepared:
        vectorize, scale, model = (pipeline.named_steps[s] for s in ("vectorize", "scale", "model"))
        names = [str(n) for n in vectorize.get_feature_names_out()]
        fit_mask = np.array([is_fit(n) for n in names])
        mean = np.asarray(scale.mean_, dtype=float)
        coef = np.asarray(model.coef_[0], dtype=float)
        # Doing nothing: every engagement count 0. Fit inputs never fade (0 difference).
        idle = np.where(fit_mask, 0.0, (0.0 - mean) / np.asarray(scale.scale_) * coef)
        groups = [group_of(n) for n in names]
        group_names = list(dict.fromkeys(groups))
        rank = {name: k for k, name in enumerate(group_names)}
        columns = sorted(range(len(groups)), key=lambda j: rank[groups[j]])
        in_order = [groups[j] for j in columns]
        return cls(
            vocabulary=dict(vectorize.vocabulary_),
            names=names,
            mean=np.asarray(scale.mean_, dtype=float),
            scale=np.asarray(scale.scale_, dtype=float),
            coef=np.asarray(model.coef_[0], dtype=float),
            intercept=float(model.intercept_[0]),
            fit_mask=fit_mask,
            groups=groups,
            group_names=group_names,
            group_columns=np.array(columns),
            group_starts=np.array([in_order.index(name) for name in group_names]),
            idle_contribution=idle,
        )

    @functools.cached_property
    def factor_names(self) -> list[str]:
        """The factors (`factors`): the input groups, then what decay took away."""
        return [*self.group_names, "inactivity"]

    @functools.cached_property
    def _placement(self) -> tuple[_Part, _Part, np.ndarray]:
        """Where a Vector's counts and fit numbers go, and the model's numeric columns no
        input fills (0, as DictVectorizer gives for a name a row lacks)."""
        counts, fit = self._part(COUNTED_INPUTS), self._part(FIT_NUMBERS)
        filled = {*counts.columns.tolist(), *fit.columns.tolist()}
        unfilled = [j for j, name in enumerate(self.names) if "=" not in name and j not in filled]
        return counts, fit, np.array(unfilled, dtype=np.intp)

    def _part(self, inputs: tuple[str, ...]) -> _Part:
        """The columns of these inputs that the model knows (an input it does not know is
        left out) and their positions among the inputs (None: all of them, in order)."""
        known = [i for i, name in enumerate(inputs) if name in self.vocabulary]
        return _Part(
            np.array([self.vocabulary[inputs[i]] for i in known], dtype=np.intp),
            None if len(known) == len(inputs) else np.array(known, dtype=np.intp),
        )

    @functools.cached_property
    def _onehot(self) -> list[_Categorical]:
        """Per categorical input, where its values' columns are."""
        column_of: dict[str, dict[str, int]] = {}
        for n in self.names:
            if "=" in n:
                name, value = n.split("=", 1)
                column_of.setdefault(name, {})[value] = self.vocabulary[n]
        found = []
        for name, columns in column_of.items():
            ordered = sorted(columns.values())
            position = {value: ordered.index(column) for value, column in columns.items()}
            found.append(
                _Categorical(
                    CATEGORICAL_INPUTS.index(name) if name in CATEGORICAL_INPUTS else None,
                    position,
                    _columns(ordered),
                    np.arange(len(ordered)),
                )
            )
        return found

    @functools.cached_property
    def engagement_mask(self) -> np.ndarray:
        return ~self.fit_mask

    def contributions(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Each input's contribution to the log-odds, per row: (x - mean) / scale * coef,
        worked out in place in the batch matrix (the same operations in the same order as
        the pipeline's steps, without temporaries)."""
        x = self.matrix(rows)
        x -= self.mean
        x /= self.scale
        x *= self.coef
        return x

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """What DictVectorizer.transform gives (unknown categories and inputs ignored).
        Rows are features.Vector (any other mapping is made one first): their counts and
        fit numbers are read into an array each and put in their columns, each categorical
        input's columns set by comparing each row's value's position with theirs (no value
        the model knows: all 0). Every column is written once."""
        try:
            parts = _counts_and_fit(rows)
        except AttributeError:  # not all Vectors
            rows = [Vector.from_mapping(row) for row in rows]
            parts = _counts_and_fit(rows)
        x = np.empty((len(rows), len(self.names)))
        *placed, unfilled = self._placement
        for (columns, positions), values in zip(placed, parts, strict=True):
            x[:, columns] = values if positions is None else values[:, positions]
        if len(unfilled):
            x[:, unfilled] = 0.0
        if self._onehot:
            by_input = list(zip(*map(_CATEGORIES, rows), strict=True)) if rows else None
            for at, position, where, positions_ in self._onehot:
                if at is None or by_input is None:  # not an input a Vector has
                    x[:, where] = 0.0
                    continue
                found = np.fromiter(
                    map(position.get, by_input[at], itertools.repeat(-1)),
                    dtype=np.intp,
                    count=len(rows),
                )
                x[:, where] = found[:, None] == positions_
        return x


class _Part(NamedTuple):
    columns: np.ndarray  # the model's columns of the inputs it knows
    positions: np.ndarray | None  # their positions among the inputs (None: all, in order)


_COUNTS = operator.attrgetter("counts")
_FIT = operator.attrgetter("fit")
_CATEGORIES = operator.attrgetter("categories")


def _counts_and_fit(rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The rows' Vector.counts (int64, joined in one copy) and Vector.fit (floats, read in
    C), each as a rows x inputs array."""
    n = len(rows)
    try:
        counts = np.frombuffer(b"".join(map(_COUNTS, rows)), dtype=np.int64)
    except TypeError:  # counts that are not all integers, kept as a list (from_mapping)
        counts = np.fromiter(
            itertools.chain.from_iterable(map(_COUNTS, rows)),
            dtype=float,
            count=n * len(COUNTED_INPUTS),
        )
    fit = np.fromiter(
        itertools.chain.from_iterable(map(_FIT, rows)), dtype=float, count=n * len(FIT_NUMBERS)
    )
    return counts.reshape(n, len(COUNTED_INPUTS)), fit.reshape(n, len(FIT_NUMBERS))


class _Categorical(NamedTuple):
    at: int | None  # its position in Vector.categories (None: not an input Vectors have)
    position: dict[str, int]  # value -> its position among the input's columns
    columns: slice | np.ndarray  # (a slice: adjacent, as DictVectorizer's sorted names are)
    positions: np.ndarray  # 0 .. len(columns) - 1


def _columns(columns: list[int]) -> slice | np.ndarray:
    """These columns as a slice when adjacent and ascending (a view, not a gather)."""
    if columns == list(range(columns[0], columns[0] + len(columns))):
        return slice(columns[0], columns[0] + len(columns))
    return np.array(columns)


TOP_FACTORS = 6  # the factors a score lists


class Factor(NamedTuple):
    """(A tuple: up to six are made for every lead.scored event.)"""

    name: str  # the input group, e.g. "pricing_views"
    points: int  # how many points of the 0-100 score it adds (negative: takes away)
    text: str  # in a marketer's words, e.g. "viewed pricing 3 times in 7 days: +12"


@dataclass
class Scores:
    """Scores of a batch, row by row."""

    probability: np.ndarray
    score: np.ndarray  # 0-100 ints
    fit: np.ndarray  # 0-100
    engagement: np.ndarray  # 0-100
    contributions: np.ndarray  # log-odds contribution of each input, per row (after decay)
    logit: np.ndarray
    faded: np.ndarray  # log-odds lost to decay, per row (0 when not idle)
    idle_days: np.ndarray
    half_life_days: float
    _factors: tuple[list[list[int]], list[list[int]]] | None = field(default=None, repr=False)

    def factor_points(self, prepared: _Prepared) -> tuple[list[list[int]], list[list[int]]]:
        """Each row's TOP_FACTORS largest factors (see `factors`), as their points and their
        index in prepared.factor_names, worked out for the whole batch at once, the first
        time any row's factors are asked for. (Only the top ones become Python lists.)"""
        if self._factors is None:
            points, order = _factor_points(prepared, self)
            order = order[:, :TOP_FACTORS]
            top = np.take_along_axis(points, order, axis=1)
            self._factors = (top.tolist(), order.tolist())
        return self._factors


def score_many(
    bundle: ModelBundle,
    rows: Sequence[Mapping[str, Any]],
    idle_days: Sequence[float] | None = None,
    half_life_days: float = 30.0,
) -> Scores:
    """Score many leads' feature vectors (features.Vector; other mappings are made
    Vectors first) in one pass; `idle_days` (per row, default 0) is
    how long each lead has been inactive since the activity its vector is as of."""
    prepared = bundle.prepared
    contributions = prepared.contributions(rows)
    idle = np.zeros(len(rows)) if idle_days is None else np.asarray(idle_days, dtype=float)
    faded = np.zeros(len(rows))
    if idle.any():
        keep = np.power(0.5, np.maximum(idle, 0.0) / half_life_days)[:, None]
        before = contributions.sum(axis=1)
        idle_c = prepared.idle_contribution
        contributions = np.where(
            prepared.fit_mask, contributions, idle_c + (contributions - idle_c) * keep
        )
        faded = before - contributions.sum(axis=1)
    logit = contributions.sum(axis=1) + prepared.intercept
    probability = 1.0 / (1.0 + np.exp(-logit))
    fit_sum = contributions[:, prepared.fit_mask].sum(axis=1)
    engagement_sum = contributions[:, prepared.engagement_mask].sum(axis=1)
    return Scores(
        probability=probability,
        score=np.clip(np.rint(probability * 100), 0, 100).astype(int),
        fit=_to_100(fit_sum, bundle.fit_range),
        engagement=_to_100(engagement_sum, bundle.engagement_range),
        contributions=contributions,
        logit=logit,
        faded=faded,
        idle_days=idle,
        half_life_days=half_life_days,
    )


def _to_100(values: np.ndarray, spread: tuple[float, float]) -> np.ndarray:
    low, high = spread
    scaled = 100 * (values - low) / max(high - low, 1e-9)
    return np.asarray(np.clip(np.rint(scaled), 0, 100))


def spread(bundle: ModelBundle, rows: Sequence[Mapping[str, Any]]) -> None:
    """Set the 0-100 scale of the fit and engagement parts from the training people:
    their 2nd and 98th percentiles map to 0 and 100."""
    prepared = bundle.prepared
    contributions = prepared.contributions(rows)
    fit = contributions[:, prepared.fit_mask].sum(axis=1)
    engagement = contributions[:, prepared.engagement_mask].sum(axis=1)
    bundle.fit_range = (float(np.percentile(fit, 2)), float(np.percentile(fit, 98)))
    bundle.engagement_range = (
        float(np.percentile(engagement, 2)),
        float(np.percentile(engagement, 98)),
    )


def factors(
    bundle: ModelBundle, scores: Scores, i: int, row: Mapping[str, Any], top: int = TOP_FACTORS
) -> list[Factor]:
    """Row i's factors that moved its score most, largest effect first.

    Inputs of one kind (the 7, 30 and 90-day counts of pricing views, say) are one factor:
    their contributions add up. A factor's points are the mean of two effects on the 0-100
    score: taking it away from this lead, and giving it alone to the average lead (the
    two-player Shapley value; either one alone reads 0 when the score is saturated)."""
    if top > TOP_FACTORS:
        raise ValueError(f"at most {TOP_FACTORS} factors are worked out per lead")
    names = bundle.prepared.factor_names
    points, order = scores.factor_points(bundle.prepared)
    found = []
    for k, value in zip(order[i][:top], points[i][:top], strict=True):
        if not value:
            break
        name = names[k]
        if name == "inactivity":
            text = (
                f"inactive for {float(scores.idle_days[i]):.0f} days (engagement fades by "
                f"half every {scores.half_life_days:g} days)"
            )
        else:
            text = words(name, row)
        found.append(Factor(name, value, f"{text}: {value:+d}"))
    return found


def _sigmoid(x: np.ndarray | float) -> Any:
    return 1.0 / (1.0 + np.exp(-x))


def _factor_points(prepared: _Prepared, scores: Scores) -> tuple[np.ndarray, np.ndarray]:
    """Every row's points per factor (prepared.factor_names) and the factors in order of
    effect, largest first (ties in name order)."""
    by_group = np.add.reduceat(
        scores.contributions[:, prepared.group_columns], prepared.group_starts, axis=1
    )
    # What decay took away is a factor of its own (0 points, so left out, when not idle).
    by_group = np.concatenate([by_group, -scores.faded[:, None]], axis=1)
    logit, base = scores.logit[:, None], prepared.intercept
    effect = (_sigmoid(logit) - _sigmoid(logit - by_group)) + (
        _sigmoid(base + by_group) - _sigmoid(base)
    )
    points = np.rint(50 * effect).astype(int)
    return points, np.argsort(-np.abs(points), axis=1, kind="stable")
