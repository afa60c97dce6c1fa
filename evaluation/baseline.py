"""The built-in baselines: TF-IDF word 1-2 grams and logistic regression for text, grey
pixels and a linear model for images (evaluation.image_baseline).

A first model to measure every split against before anyone brings their own: trained on the
`train` split of a split version (at most `baseline_max_train_rows` of it, a sample by md5 of
the id), it predicts all four splits and its predictions are registered like any user's, each
saying whether the model was fit on that example (`in_training_set`), as model version
`baseline-tfidf-logreg-vNNNN` (text) or `baseline-pixels-sgd-vNNNN` (images). A dataset with
both reads the text only, and says so. Being registered, they are immutable, so a baseline
already registered for a split version is reused, not retrained.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from evaluation.image_baseline import IMAGE_SIDE, ImageReadError, PixelModel
from evaluation.predictions import (
    FIT_COLUMN,
    PROB_PREFIX,
    PredictionsSummary,
    predictions_location,
    predictions_path,
    register_predictions,
)
from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_identifier, quote_literal
from warehouse.layout import WarehouseLayout
from warehouse.split_names import SPLITS, SplitName

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline
from deployment.errors import BayeslineError
from warehouse.splits import published_versions, version_location
from warehouse.sql_results import fetch_count
from warehouse.storage import writer_connection

PREDICT_BATCH_ROWS = 50_000  # texts held in memory at once while predicting
#: What a built-in baseline reads.
PayloadKind = Literal["text", "image"]


#: What a user does when no built-in baseline fits: evaluation runs on their own model.
REGISTER_PREDICTIONS = (
    "register your own model's predictions with `bayesline predictions add FILE -m MODEL "
    "-s VERSION` (or drop them in landing/_predictions/), then run `bayesline materialize` "
    "again"
)


class BaselineError(BayeslineError, ValueError):
    """The baseline cannot be trained; the message says why and what to do instead."""


class NoBaselineFits(BaselineError):
    """No built-in baseline reads this dataset's payload: a step to skip, not a failure."""


@dataclass(frozen=True)
class BaselinePayload:
    """What the built-in baseline reads: the text columns, else the image columns."""

    kind: PayloadKind
    columns: tuple[str, ...]
    unused: tuple[str, ...] = ()  # payload columns of the dataset the baseline leaves out

    def describe(self) -> str:
        used = (
            f"the text of {', '.join(self.columns)} (TF-IDF)"
            if self.kind == "text"
            else f"the images of {', '.join(self.columns)} (grey {IMAGE_SIDE}x{IMAGE_SIDE} pixels)"
        )
        if not self.unused:
            return used
        return (
            f"{used}; not {', '.join(self.unused)}: bring your own model's predictions to use them"
        )


def baseline_payload(config: BayeslineConfig) -> BaselinePayload | None:
    """The payload the built-in baseline reads, or None when it reads none of them."""
    dataset = config.dataset
    if dataset.text_columns:
        return BaselinePayload("text", dataset.text_columns, dataset.image_columns)
    if dataset.image_columns:
        return BaselinePayload("image", dataset.image_columns)
    return None


@dataclass(frozen=True)
class BaselineResult:
    model_version: str
    split_version: int
    n_train: int
    accuracy: dict[SplitName, float | None] = field(default_factory=dict)  # None: split empty
    summary: PredictionsSummary | None = None  # created=False: an earlier run trained it
    n_fit: int | None = None  # train examples the model was fitted on; None: reused, not fitted
    payload: str = ""  # what the model read (BaselinePayload.describe)


MODEL_NAMES: dict[PayloadKind, str] = {
    "text": "baseline-tfidf-logreg",
    "image": "baseline-pixels-sgd",
}


def baseline_model_version(split_version: int, kind: PayloadKind = "text") -> str:
    return f"{MODEL_NAMES[kind]}-v{split_version:04d}"


def is_baseline_model(model_version: str, split_version: int) -> bool:
    return any(model_version == baseline_model_version(split_version, k) for k in MODEL_NAMES)


def build_pipeline(seed: int = 0) -> Pipeline:
    # Imported here: scikit-learn takes a second to import, and the Dagster code location
    # must load fast.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)),
            # lbfgs is deterministic; the seed matters only if the solver is ever changed.
            (
                "logreg",
                LogisticRegression(C=4.0, max_iter=2000, class_weight=None, random_state=seed),
            ),
        ]
    )


def train_baseline(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    split_version: int | None = None,
    seed: int = 0,
) -> BaselineResult:
    """Train on `train`, predict every split, register the predictions, report accuracy."""
    payload = baseline_payload(config)
    if payload is None:
        raise NoBaselineFits(f"{unfit_reason(config)}; {REGISTER_PREDICTIONS}")
    split_version = _resolve_version(layout, split_version)
    model_version = baseline_model_version(split_version, payload.kind)
    stored = predictions_path(layout, model_version, split_version)
    with writer_connection(layout) as con:
        n_train = _count(con, layout, split_version, "train")
        n_fit = None
        if layout.store.holds(stored):
            # Registered before and immutable: re-registering the stored file is a checked
            # no-op that still reports coverage, and nothing is retrained.
            with layout.store.local_copy(stored, layout.scratch) as local:
                summary = register_predictions(layout, config, local, model_version, split_version)
        else:
            reading = _Reading(layout, config, payload, split_version)
            model, fitted = _fit(con, reading, _new_model(layout, payload, seed))
            n_fit = len(fitted)
            with tempfile.TemporaryDirectory(dir=layout.scratch) as tmp:
                staged = Path(tmp) / "predictions.parquet"
                _predict_all(con, reading, (model, fitted), staged)
                summary = register_predictions(layout, config, staged, model_version, split_version)
        accuracy = _accuracy(con, layout, model_version, split_version)
    return BaselineResult(
        model_version, split_version, n_train, accuracy, summary, n_fit, payload.describe()
    )


def _new_model(
    layout: WarehouseLayout, payload: BaselinePayload, seed: int
) -> Pipeline | PixelModel:
    if payload.kind == "text":
        return build_pipeline(seed)
    return PixelModel(layout.home, seed)


def unfit_reason(config: BayeslineConfig) -> str | None:
    """Why no built-in baseline reads this dataset's payload, or None when one does."""
    if baseline_payload(config) is not None:
        return None
    shown = ", ".join(config.dataset.payload_columns) or "none"
    return f"no built-in baseline reads this payload ({shown}): they read text or images"


def _resolve_version(layout: WarehouseLayout, split_version: int | None) -> int:
    versions = published_versions(layout)
    if not versions:
        raise BaselineError("no split version is published yet: publish splits first")
    if split_version is None:
        return versions[-1]
    if split_version not in versions:
        shown = ", ".join(str(v) for v in versions)
        raise BaselineError(f"split version {split_version} is not published ({shown} are)")
    return split_version


def _split_file(layout: WarehouseLayout, split_version: int, split: str) -> str:
    path = version_location(layout, split_version, f"{split}.parquet")
    return f"read_parquet({quote_literal(path)})"


def _count(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, split_version: int, split: str
) -> int:
    return fetch_count(con, f"SELECT count(*) FROM {_split_file(layout, split_version, split)}")


@dataclass(frozen=True)
class _Reading:
    """Where the baseline reads a split version's examples, and which payload."""

    layout: WarehouseLayout
    config: BayeslineConfig
    payload: BaselinePayload
    split_version: int

    def select(self, split: str) -> str:
        """Only the columns the model needs: the id, the label and the payload."""
        columns = ", ".join(quote_identifier(c) for c in self.payload.columns)
        payload = (
            f"coalesce(concat_ws(' ', {columns}), '')"
            if self.payload.kind == "text"
            else f"list_value({columns})"  # the image paths, one per image column
        )
        return (
            f"SELECT example_id, label, {payload} AS payload "
            f"FROM {_split_file(self.layout, self.split_version, split)}"
        )

    def query(self, split: str) -> str:
        """In a fixed order, so training and predicting are reproducible."""
        return self.select(split) + " ORDER BY example_id"

    def training_sample(self) -> str:
        """The train split, or a sample of it fixed by md5 of the id (the same in any engine)."""
        cap = self.config.evaluation.baseline_max_train_rows
        return (
            f"SELECT * FROM ({self.select('train')} ORDER BY md5(example_id), example_id "
            f"LIMIT {int(cap)}) ORDER BY example_id"
        )


def _fit(
    con: duckdb.DuckDBPyConnection, reading: _Reading, model: Pipeline | PixelModel
) -> tuple[Pipeline | PixelModel, set[str]]:
    """The fitted model and the ids of the train examples it was fit on (only the sample's
    ids, labels and payloads are held: texts, or image paths)."""
    rows = con.execute(reading.training_sample()).fetchall()
    labels = [label for _, label, _ in rows]
    split_version = reading.split_version
    if len(set(labels)) < 2:
        raise NoBaselineFits(
            f"the train split of v{split_version} has {len(rows)} examples and "
            f"{len(set(labels))} label(s): the baseline needs at least two labels to learn; "
            f"{REGISTER_PREDICTIONS}"
        )
    try:
        model.fit([payload for _, _, payload in rows], labels)
    except ImageReadError as exc:  # a file gone since ingest: a fault to repair, not to skip
        raise BaselineError(str(exc)) from exc
    except ValueError as exc:  # e.g. no word occurs twice, so min_df leaves no vocabulary
        raise NoBaselineFits(
            f"the baseline could not be trained on v{split_version}: {exc}; {REGISTER_PREDICTIONS}"
        ) from exc
    return model, {example_id for example_id, _, _ in rows}


def _predict_all(
    con: duckdb.DuckDBPyConnection,
    reading: _Reading,
    fit: tuple[Pipeline | PixelModel, set[str]],
    target: Path,
) -> None:
    """Predict every split in batches, streaming them into one Parquet file with a
    probability per label (prob_<label>; 0 for a label train never showed the model) and
    whether the model was fit on the example."""
    model, fitted = fit
    labels = reading.config.dataset.labels
    prob_columns = [f"{PROB_PREFIX}{label}" for label in labels]
    schema = pa.schema(
        [("example_id", pa.string()), ("predicted_label", pa.string()), ("score", pa.float64())]
        + [(column, pa.float64()) for column in prob_columns]
        + [(FIT_COLUMN, pa.bool_())]
    )
    known = {str(label): i for i, label in enumerate(model.classes_)}
    with pq.ParquetWriter(target, schema) as writer:
        for split in SPLITS:
            cursor = con.execute(reading.query(split))
            while batch := cursor.fetchmany(PREDICT_BATCH_ROWS):
                proba = model.predict_proba([payload for _, _, payload in batch])
                best = np.argmax(proba, axis=1)
                columns = {
                    "example_id": [example_id for example_id, _, _ in batch],
                    "predicted_label": [str(label) for label in model.classes_[best]],
                    "score": proba[np.arange(len(batch)), best].tolist(),
                }
                for label, column in zip(labels, prob_columns, strict=True):
                    i = known.get(label)
                    columns[column] = [0.0] * len(batch) if i is None else proba[:, i].tolist()
                columns[FIT_COLUMN] = [example_id in fitted for example_id in columns["example_id"]]
                writer.write_table(pa.table(columns, schema=schema))


def _accuracy(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, model_version: str, split_version: int
) -> dict[SplitName, float | None]:
    """Accuracy per split, over the examples with a prediction."""
    path = quote_literal(predictions_location(layout, model_version, split_version))
    files = quote_literal(version_location(layout, split_version, "*.parquet"))
    rows = con.execute(
        f"SELECT s.split, avg(CAST(p.predicted_label = s.label AS DOUBLE)) "
        f"FROM read_parquet({files}) AS s JOIN read_parquet({path}) AS p USING (example_id) "
        "GROUP BY s.split"
    ).fetchall()
    found = dict(rows)
    return {split: found.get(split) for split in SPLITS}
