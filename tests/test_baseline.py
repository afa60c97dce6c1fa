"""The built-in TF-IDF + logistic regression baseline, on the demo data and the real dataset."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace

import duckdb
import pytest

from bayesline.demo import generate_demo_data
from evaluation.baseline import (
    BaselineError,
    NoBaselineFits,
    baseline_model_version,
    build_pipeline,
    train_baseline,
)
from evaluation.predictions import list_model_versions
from tests.conftest import REPO_ROOT, SMALL_CONFIG, one_row, write_csv
from warehouse.config import load_config, parse_config
from warehouse.ingest import ingest_landing_files
from warehouse.layout import WarehouseLayout
from warehouse.splits import publish_split_version, version_path

SENTIMENT_CONFIG = {
    "dataset": {
        "name": "uci-sentiment",
        "label_column": "sentiment",
        "labels": ["0", "1"],
        "text_columns": ["reviews"],
    },
    "sources": {"target": ["yelp"]},
    "splits": {
        "salt": "uci-sentiment-v1",
        "target": {"train": 0.2, "dev": 0.4, "test": 0.4},
        "training": {"train": 0.9, "train_dev": 0.1},
    },
}


def demo_warehouse(layout: WarehouseLayout):
    config = load_config(REPO_ROOT / "bayesline.toml")
    generate_demo_data(layout.landing, seed=7, n_training=800, n_target=400)
    ingest_landing_files(layout, config)
    publish_split_version(layout, config)
    return config


def majority_accuracy(layout: WarehouseLayout, split_version: int, split: str) -> float:
    path = version_path(layout, split_version) / f"{split}.parquet"
    with duckdb.connect() as con:
        return one_row(
            con.execute(
                f"SELECT max(n) / sum(n) FROM (SELECT count(*) AS n FROM read_parquet('{path}') "
                "GROUP BY label)"
            )
        )[0]


def stored_predictions(layout: WarehouseLayout, model_version: str) -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute(
            "SELECT example_id, predicted_label, score FROM "
            f"read_parquet('{layout.predictions_dir}/{model_version}__v0001.parquet') "
            "ORDER BY example_id"
        ).fetchall()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One demo baseline, trained once for the tests that only read it."""
    layout = WarehouseLayout(tmp_path_factory.mktemp("demo")).ensure()
    config = demo_warehouse(layout)
    return layout, config, train_baseline(layout, config, seed=0)


def test_the_baseline_registers_predictions_covering_all_four_splits(demo_run):
    layout, _, result = demo_run
    summary = result.summary
    assert result.model_version == baseline_model_version(1) == "baseline-tfidf-logreg-v0001"
    assert list_model_versions(layout) == [(result.model_version, 1)]
    assert summary.created and summary.covered == summary.split_sizes
    assert all(summary.covered[split] > 0 for split in ("train", "train_dev", "dev", "test"))
    assert result.n_train == summary.split_sizes["train"]
    scores = [score for _, _, score in stored_predictions(layout, result.model_version)]
    assert min(scores) >= 0.5 and max(scores) <= 1.0  # two classes: the winner has at least half


def test_the_baseline_stores_a_probability_per_label_whose_top_one_is_its_prediction(demo_run):
    layout, config, result = demo_run
    assert result.summary.with_probs and result.summary.not_argmax == 0
    path = layout.predictions_dir / f"{result.model_version}__v0001.parquet"
    with duckdb.connect() as con:
        keys, worst_sum, mismatched = con.execute(
            "SELECT list_distinct(flatten(list(map_keys(probs)))), "
            "max(abs(list_sum(map_values(probs)) - 1)), "
            "count_if(abs(probs[predicted_label] - score) > 1e-12) "
            f"FROM read_parquet('{path}')"
        ).fetchone()
    assert sorted(keys) == sorted(config.dataset.labels)
    assert worst_sum < 1e-9 and mismatched == 0


def test_the_baseline_beats_the_majority_class_on_dev(demo_run):
    layout, _, result = demo_run
    assert result.accuracy["dev"] > majority_accuracy(layout, 1, "dev") + 0.05
    assert result.accuracy["train"] >= result.accuracy["dev"]


def test_the_baseline_is_deterministic_and_a_second_run_changes_nothing(demo_run, tmp_path):
    layout, config, first = demo_run
    before = first.summary.path.stat().st_mtime_ns
    again = train_baseline(layout, config, seed=0)
    assert not again.summary.created and again.accuracy == first.accuracy
    assert again.summary.covered == first.summary.covered
    assert first.summary.path.stat().st_mtime_ns == before
    fresh = WarehouseLayout(tmp_path / "fresh").ensure()
    second = train_baseline(fresh, demo_warehouse(fresh), seed=0)
    assert second.accuracy == first.accuracy
    assert stored_predictions(fresh, second.model_version) == stored_predictions(
        layout, first.model_version
    )


def test_a_train_split_with_one_label_says_why_and_what_to_do(layout):
    config = parse_config(SMALL_CONFIG)
    for source in ("app", "web"):
        rows = [
            (f"{source}-{i}", f"u{source}{i}", "pos", f"{source} words {i}", "ios")
            for i in range(60)
        ]
        write_csv(layout.landing / source / "all.csv", rows)
    ingest_landing_files(layout, config)
    publish_split_version(layout, config)
    with pytest.raises(NoBaselineFits, match=r"1 label\(s\).*bayesline predictions add"):
        train_baseline(layout, config)


def test_an_unpublished_split_version_is_refused(demo_run):
    layout, config, _ = demo_run
    with pytest.raises(BaselineError, match=r"split version 9 is not published \(1 are\)"):
        train_baseline(layout, config, split_version=9)


@pytest.mark.shared_data
def test_the_baseline_learns_the_real_sentiment_dataset(shared_dataset, layout):
    config = parse_config(SENTIMENT_CONFIG)
    for source in ("amazon", "imdb", "yelp"):
        name = "amazon_cells" if source == "amazon" else source
        (layout.landing / source).mkdir(parents=True)
        shutil.copy(shared_dataset / f"{name}_labelled.txt", layout.landing / source)
    ingest_landing_files(layout, config)
    publish_split_version(layout, config)
    result = train_baseline(layout, config)
    assert result.summary.covered == result.summary.split_sizes
    assert result.accuracy["dev"] > majority_accuracy(layout, 1, "dev") + 0.1


def test_the_baseline_fits_on_a_capped_sample_that_any_engine_can_draw(tmp_path):
    layout = WarehouseLayout(tmp_path / "capped").ensure()
    config = demo_warehouse(layout)
    capped = replace(config, evaluation=replace(config.evaluation, baseline_max_train_rows=60))
    result = train_baseline(layout, capped, seed=0)
    assert result.n_fit == 60 < result.n_train
    # The sample is the 60 train ids with the smallest md5, drawn here in plain Python: a model
    # fitted on exactly those predicts exactly what the baseline stored.
    with duckdb.connect() as con:
        train = con.execute(
            f"SELECT example_id, label, text FROM read_parquet('{version_path(layout, 1)}/"
            "train.parquet')"
        ).fetchall()
    chosen = sorted(train, key=lambda r: (hashlib.md5(r[0].encode()).hexdigest(), r[0]))[:60]
    chosen.sort(key=lambda r: r[0])
    model = build_pipeline(seed=0).fit([r[2] for r in chosen], [r[1] for r in chosen])
    stored = stored_predictions(layout, result.model_version)
    texts = {r[0]: r[2] for r in train}
    some = [row for row in stored if row[0] in texts][:20]
    predicted = model.predict([texts[example_id] for example_id, _, _ in some])
    assert list(predicted) == [label for _, label, _ in some]
    assert train_baseline(layout, capped, seed=0).n_fit is None  # registered: reused, not refit
