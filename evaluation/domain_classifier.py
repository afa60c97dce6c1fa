"""A domain classifier: how well an example's features tell target from training data.

Features are the built-in baseline's TF-IDF word 1-2 grams (evaluation/baseline.py's
`build_pipeline`, so "what the model sees" is one definition) plus one-hot slice values. A
logistic regression is fitted in `FOLDS` folds drawn by sha256 of the component (group key
and repeated texts linked, as the split rule links them), so a user (or patient) or a text is
never on both sides of a fold: each example's probability of being target comes
from a model that never saw it or its group (out-of-fold). Those probabilities give the
cross-validated AUC and, on train-dev, the importance weights; a last model fitted on every
example ranks the train examples and names the features that separate the two.

An AUC of 0.5 means the two are indistinguishable to these features; 1.0 means every target
example can be told apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict

import numpy as np

from evaluation.baseline import build_pipeline
from evaluation.shift_estimates import BoolArray, FloatArray, IntArray
from warehouse.hashing import FIELD_SEPARATOR, split_bucket
from warehouse.split_names import TARGET, TRAINING, Distribution

if TYPE_CHECKING:
    # scipy ships no type information.
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

FOLDS = 5
NAMESPACE = "distribution-shift"  # of the folds and of the sample by hash
TOP_FEATURES = 10  # per direction
MIN_PER_SIDE = 10  # fewer examples on a side than this and there is nothing to learn from

FeatureKind = Literal["n-gram", "slice value"]


class ShiftFeature(TypedDict):
    """A feature that separates the two sides: a SHIFT_FEATURE_COLUMNS row without its split
    version and time."""

    direction: Distribution  # the side the feature points to
    rank: int  # within its direction, strongest first
    feature: str
    kind: FeatureKind
    coefficient: float
    share_training: float
    share_target: float


@dataclass
class Examples:
    """The classifier's input: texts, slice values (one list per slice column) and names."""

    texts: list[str]
    slice_values: list[list[str]]  # [column][row]
    slice_names: list[str]


@dataclass(frozen=True)
class DomainFit:
    out_of_fold: FloatArray  # P(target) per example, from the fold that left it out
    model: _Model  # fitted on every example
    features: list[ShiftFeature]  # the strongest features each way


def component_folds(
    salt: str, group_keys: list[str], dedup_keys: list[str]
) -> tuple[IntArray, IntArray]:
    """(fold, component code) per example. Examples sharing a group key or a normalised
    payload are one component, as the split rule links them: a text repeated in train-dev
    and dev must not sit in two folds, or the model learns it as target in one and scores it
    on the other side, and two identical distributions get an AUC well below 0.5. A
    component's fold is drawn from sha256 of (salt, namespace, its smallest group key)."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]  # path halving
            node = parent[node]
        return node

    for group, dedup in zip(group_keys, dedup_keys, strict=True):
        a, b = root(f"g{FIELD_SEPARATOR}{group}"), root(f"d{FIELD_SEPARATOR}{dedup}")
        if a != b:
            parent[max(a, b)] = min(a, b)
    roots = [root(f"g{FIELD_SEPARATOR}{group}") for group in group_keys]
    smallest: dict[str, str] = {}
    for r, group in zip(roots, group_keys, strict=True):
        smallest[r] = min(smallest.get(r, group), group)
    keys = [smallest[r] for r in roots]
    folds = [split_bucket(salt, f"{NAMESPACE}{FIELD_SEPARATOR}{k}") % FOLDS for k in keys]
    codes = np.unique(np.asarray(keys, dtype=object), return_inverse=True)[1]
    return np.asarray(folds), codes.astype(np.int64)


def fit_domain_classifier(examples: Examples, is_target: BoolArray, folds: IntArray) -> DomainFit:
    """Out-of-fold P(target) for every example, the model on all, and the top features."""
    out_of_fold = np.zeros(len(is_target))
    for fold in range(FOLDS):
        held_out = folds == fold
        if not held_out.any() or held_out.all():
            continue
        model = _Model.fit(_subset(examples, ~held_out), is_target[~held_out])
        out_of_fold[held_out] = model.probability(_subset(examples, held_out))
    model = _Model.fit(examples, is_target)
    return DomainFit(out_of_fold, model, model.top_features(examples, is_target))


class _Model:
    """TF-IDF n-grams and one-hot slice values, side by side, and a logistic regression."""

    def __init__(
        self,
        tfidf: TfidfVectorizer,
        onehot: OneHotEncoder,
        logreg: LogisticRegression,
        slice_names: list[str],
    ) -> None:
        self.tfidf, self.onehot, self.logreg = tfidf, onehot, logreg
        self.slice_names = slice_names

    @classmethod
    def fit(cls, examples: Examples, is_target: BoolArray) -> _Model:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import OneHotEncoder

        tfidf = build_pipeline().named_steps["tfidf"]
        onehot = OneHotEncoder(handle_unknown="ignore")
        # Balanced classes: the odds then estimate the density ratio target / training
        # directly, whatever the two sample sizes.
        logreg = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
        model = cls(tfidf, onehot, logreg, examples.slice_names)
        model.logreg.fit(model._matrix(examples, fit=True), is_target.astype(int))
        return model

    def probability(self, examples: Examples) -> FloatArray:
        probabilities: FloatArray = self.logreg.predict_proba(self._matrix(examples))[:, 1]
        return probabilities

    def top_features(self, examples: Examples, is_target: BoolArray) -> list[ShiftFeature]:
        names = [*self.tfidf.get_feature_names_out(), *self._slice_feature_names()]
        n_grams = len(self.tfidf.vocabulary_)  # the n-grams come first, then slice values
        kinds: list[FeatureKind] = [
            "n-gram" if i < n_grams else "slice value" for i in range(len(names))
        ]
        coefficients = self.logreg.coef_[0]
        present = (self._matrix(examples) > 0).astype(np.float64)
        share_target = np.asarray(present[np.flatnonzero(is_target)].mean(axis=0)).ravel()
        share_training = np.asarray(present[np.flatnonzero(~is_target)].mean(axis=0)).ravel()
        rows: list[ShiftFeature] = []
        directions: tuple[tuple[Distribution, IntArray], ...] = (
            (TARGET, np.argsort(-coefficients, kind="stable")),
            (TRAINING, np.argsort(coefficients, kind="stable")),
        )
        for direction, order in directions:
            pointing = [i for i in order if (coefficients[i] > 0) == (direction == TARGET)]
            for rank, i in enumerate(pointing[:TOP_FEATURES], start=1):
                rows.append(
                    ShiftFeature(
                        direction=direction,
                        rank=rank,
                        feature=str(names[i]),
                        kind=kinds[i],
                        coefficient=float(coefficients[i]),
                        share_training=float(share_training[i]),
                        share_target=float(share_target[i]),
                    )
                )
        return rows

    def _matrix(self, examples: Examples, fit: bool = False) -> csr_matrix:
        from scipy.sparse import csr_matrix, hstack

        texts = (
            self.tfidf.fit_transform(examples.texts)
            if fit
            else self.tfidf.transform(examples.texts)
        )
        if not examples.slice_names:
            return csr_matrix(texts)
        values = np.array(examples.slice_values, dtype=object).T
        onehot = self.onehot.fit_transform(values) if fit else self.onehot.transform(values)
        return hstack([texts, onehot], format="csr")

    def _slice_feature_names(self) -> list[str]:
        if not self.slice_names:
            return []
        return [
            f"{name} = {value}"
            for name, values in zip(self.slice_names, self.onehot.categories_, strict=True)
            for value in values
        ]


def _subset(examples: Examples, mask: BoolArray) -> Examples:
    index = np.flatnonzero(mask)
    return Examples(
        [examples.texts[i] for i in index],
        [[column[i] for i in index] for column in examples.slice_values],
        examples.slice_names,
    )
