"""Registering predictions: the happy path, immutability, every validation error, landed files."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluation.landed_predictions import register_landed_predictions
from evaluation.predictions import (
    PredictionsError,
    list_model_versions,
    predictions_path,
    register_predictions,
    safe_model_version,
)
from tests.conftest import write_csv
from warehouse.catalog import open_reader
from warehouse.ingest import ingest_landing_files
from warehouse.schema import PREDICTION_COLUMNS
from warehouse.splits import publish_split_version


def build_warehouse(layout, config, app_rows: list[tuple], web_rows: list[tuple]) -> int:
    """Land, ingest and publish small_config rows (id, user, label, text, device); the version."""
    write_csv(layout.landing / "app" / "batch.csv", app_rows)
    write_csv(layout.landing / "web" / "batch.csv", web_rows)
    summary = ingest_landing_files(layout, config)
    assert summary.rows_rejected == 0
    published = publish_split_version(layout, config)
    assert published.version is not None, published.message
    return published.version


def simple_rows(n_app: int = 120, n_web: int = 60) -> tuple[list[tuple], list[tuple]]:
    """Rows with one user each and distinct texts, so no group or duplicate links them."""
    app = [
        (f"a{i:03d}", f"ua{i}", "neg" if i % 3 else "pos", f"app review {i}", "ios")
        for i in range(n_app)
    ]
    web = [
        (f"w{i:03d}", f"uw{i}", "pos" if i % 2 else "neg", f"web review {i}", "desktop")
        for i in range(n_web)
    ]
    return app, web


def split_examples(layout, config, version: int) -> list[tuple[str, str, str]]:
    """(example_id, split, label) of every example in a split version."""
    with open_reader(layout, config) as con:
        return con.execute(
            "SELECT example_id, split, label FROM splits WHERE version = ? ORDER BY example_id",
            [version],
        ).fetchall()


def write_predictions_csv(path: Path, rows: list[tuple], header=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header or ["example_id", "predicted_label", "score"])
        writer.writerows(rows)
    return path


def write_predictions_parquet(path: Path, columns: dict[str, list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


@pytest.fixture
def warehouse(layout, small_config) -> tuple[int, list[tuple[str, str, str]]]:
    version = build_warehouse(layout, small_config, *simple_rows())
    return version, split_examples(layout, small_config, version)


def correct_predictions(examples, splits=("dev", "test")) -> list[tuple]:
    return [(eid, label, 0.9) for eid, split, label in examples if split in splits]


def test_registered_predictions_follow_the_contract_and_report_coverage_per_split(
    layout, small_config, warehouse, tmp_path
):
    version, examples = warehouse
    source = write_predictions_csv(tmp_path / "preds.csv", correct_predictions(examples))
    summary = register_predictions(layout, small_config, source, "model-a", version)
    sizes = {s: sum(1 for _, split, _ in examples if split == s) for s in summary.split_sizes}
    assert summary.created
    assert summary.rows == sizes["dev"] + sizes["test"]
    assert summary.split_sizes == sizes
    assert summary.covered == {
        "train": 0,
        "train_dev": 0,
        "dev": sizes["dev"],
        "test": sizes["test"],
    }
    assert summary.path == predictions_path(layout, "model-a", version)
    stored = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{summary.path}')").fetchall()
    assert {name: kind for name, kind, *_ in stored} == PREDICTION_COLUMNS
    assert list(PREDICTION_COLUMNS) == [row[0] for row in stored]
    values = duckdb.sql(
        f"SELECT DISTINCT model_version, split_version, score FROM read_parquet('{summary.path}')"
    ).fetchall()
    assert values == [("model-a", version, 0.9)]
    assert list_model_versions(layout) == [("model-a", version)]


def test_a_parquet_file_with_matching_pair_columns_and_no_score_registers(
    layout, small_config, warehouse, tmp_path
):
    version, examples = warehouse
    dev = [(eid, label) for eid, split, label in examples if split == "dev"]
    source = write_predictions_parquet(
        tmp_path / "preds.parquet",
        {
            "example_id": [eid for eid, _ in dev],
            "predicted_label": [label for _, label in dev],
            "model_version": ["model-b"] * len(dev),
            "split_version": [version] * len(dev),
        },
    )
    summary = register_predictions(layout, small_config, source, "model-b", version)
    scores = duckdb.sql(f"SELECT count(score) FROM read_parquet('{summary.path}')").fetchall()
    assert summary.covered["dev"] == len(dev) and summary.covered["test"] == 0
    assert scores == [(0,)]


def test_registering_identical_predictions_again_is_a_no_op(
    layout, small_config, warehouse, tmp_path
):
    version, examples = warehouse
    source = write_predictions_csv(tmp_path / "preds.csv", correct_predictions(examples))
    first = register_predictions(layout, small_config, source, "model-a", version)
    before = first.path.stat().st_mtime_ns
    again = register_predictions(layout, small_config, source, "model-a", version)
    assert not again.created
    assert again.rows == first.rows
    assert "already registered" in again.message
    assert first.path.stat().st_mtime_ns == before


def test_different_predictions_for_a_registered_pair_are_refused(
    layout, small_config, warehouse, tmp_path
):
    version, examples = warehouse
    rows = correct_predictions(examples)
    register_predictions(
        layout, small_config, write_predictions_csv(tmp_path / "a.csv", rows), "m", version
    )
    changed = [(eid, "pos" if label == "neg" else "neg", score) for eid, label, score in rows]
    with pytest.raises(PredictionsError, match="use a new model version"):
        register_predictions(
            layout, small_config, write_predictions_csv(tmp_path / "b.csv", changed), "m", version
        )
    assert list_model_versions(layout) == [("m", version)]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda rows: [*rows, ("nope-1", "neg", 0.5)],
            r"1 example_id\(s\) are not in split version 1, e\.g\. nope-1",
        ),
        (lambda rows: rows + rows[:2], r"2 example_id\(s\) appear more than once, e\.g\. "),
        (
            lambda rows: [(rows[0][0], "maybe", 0.5), *rows[1:]],
            r"label\(s\) are not in the label set \(neg, pos\), e\.g\. .* -> maybe",
        ),
        (
            lambda rows: [(rows[0][0], rows[0][1], 1.5), *rows[1:]],
            r"score\(s\) are not probabilities in \[0, 1\], e\.g\. .* -> 1\.5",
        ),
        (
            lambda rows: [(rows[0][0], rows[0][1], "high"), *rows[1:]],
            r"score\(s\) are not probabilities in \[0, 1\], e\.g\. .* -> high",
        ),
        (
            lambda rows: [("", "neg", 0.5), *rows],
            r"1 row\(s\) have an empty example_id, e\.g\. data row 1",
        ),
        (lambda rows: [], r"has no rows"),
    ],
    ids=[
        "unknown id",
        "duplicate id",
        "unknown label",
        "score above 1",
        "score not a number",
        "empty id",
        "header only",
    ],
)
def test_invalid_predictions_are_refused_with_a_message_naming_the_problem(
    layout, small_config, warehouse, tmp_path, mutate, message
):
    version, examples = warehouse
    source = write_predictions_csv(tmp_path / "p.csv", mutate(correct_predictions(examples)))
    with pytest.raises(PredictionsError, match=message):
        register_predictions(layout, small_config, source, "m", version)
    assert list_model_versions(layout) == []


def test_an_unpublished_split_version_is_refused_listing_the_published_ones(
    layout, small_config, warehouse, tmp_path
):
    _, examples = warehouse
    source = write_predictions_csv(tmp_path / "p.csv", correct_predictions(examples))
    with pytest.raises(
        PredictionsError, match=r"split version 7 is not published; published versions: 1"
    ):
        register_predictions(layout, small_config, source, "m", 7)


def test_a_file_naming_another_model_or_split_version_is_refused(
    layout, small_config, warehouse, tmp_path
):
    version, examples = warehouse
    rows = [
        (eid, label, score, "other", version) for eid, label, score in correct_predictions(examples)
    ]
    header = ["example_id", "predicted_label", "score", "model_version", "split_version"]
    source = write_predictions_csv(tmp_path / "p.csv", rows, header)
    with pytest.raises(PredictionsError, match="says model_version 'other' but you registered 'm'"):
        register_predictions(layout, small_config, source, "m", version)
    with pytest.raises(PredictionsError, match="says split_version '1' but you registered '2'"):
        register_predictions(layout, small_config, source, "other", 2)


def test_empty_files_and_missing_columns_are_refused(layout, small_config, warehouse, tmp_path):
    version, _ = warehouse
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(PredictionsError, match="is empty"):
        register_predictions(layout, small_config, empty, "m", version)
    no_label = write_predictions_csv(tmp_path / "p.csv", [("a000", 0.5)], ["example_id", "score"])
    with pytest.raises(PredictionsError, match="lacks column"):
        register_predictions(layout, small_config, no_label, "m", version)


def test_model_versions_with_path_characters_stay_inside_the_predictions_directory(layout):
    names = ["../escape", "team/model", ".hidden", "a b", "team%2Fmodel"]
    paths = [predictions_path(layout, name, 1) for name in names]
    assert all(p.parent == layout.predictions_dir for p in paths)
    assert not any(p.name.startswith(".") for p in paths)
    assert len(set(paths)) == len(names)
    assert safe_model_version("bert-base_1.2+x") == "bert-base_1.2+x"
    for bad in ["", "  ", " padded", "tab\there"]:
        with pytest.raises(PredictionsError):
            safe_model_version(bad)


def test_landed_predictions_are_registered_once_and_a_bad_file_is_reported(
    layout, small_config, warehouse, tmp_path
):
    version, examples = warehouse
    landing = layout.landing / "_predictions"
    header = ["example_id", "predicted_label", "score", "model_version", "split_version"]
    good = [(*row, "landed", version) for row in correct_predictions(examples)]
    write_predictions_csv(landing / "good.csv", good, header)
    bad = [(*row, "broken", version) for row in correct_predictions(examples, ("train",))]
    bad.append(("nope-9", "neg", 0.5, "broken", version))
    write_predictions_csv(landing / "bad.csv", bad, header)
    first = {s.source.name: s for s in register_landed_predictions(layout, small_config)}
    assert first["good.csv"].created and first["good.csv"].error is None
    assert "nope-9" in first["bad.csv"].error
    assert first["bad.csv"].model_version == "broken"
    again = register_landed_predictions(layout, small_config)
    assert [s.source.name for s in again] == ["bad.csv"]  # reported until fixed, never recorded
    assert list_model_versions(layout) == [("landed", version)]


def test_landed_files_without_their_pair_columns_are_reported(layout, small_config, warehouse):
    _, examples = warehouse
    write_predictions_csv(layout.landing / "_predictions" / "p.csv", correct_predictions(examples))
    (result,) = register_landed_predictions(layout, small_config)
    assert "lacks column(s) model_version, split_version" in result.error
    assert list_model_versions(layout) == []
