"""Predictions on any subset of splits are diagnosed, through the CLI and a real Dagster run,
and one model version's failure never takes another's diagnosis with it."""

from __future__ import annotations

import itertools
import json

import dagster as dg
import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from bayesline.runner import ensure_dagster_home
from evaluation.baseline import baseline_model_version
from evaluation.diagnosis import GAP_KEYS, ErrorRate, diagnose
from evaluation.predictions import register_predictions
from tests.conftest import small_config_toml
from tests.test_predictions import (
    build_warehouse,
    simple_rows,
    split_examples,
    write_predictions_csv,
)
from warehouse.catalog import fetch_dicts, open_reader
from warehouse.config import load_config
from warehouse.split_names import SPLITS

SUBSETS = [s for r in range(1, 5) for s in itertools.combinations(SPLITS, r)]
runner = CliRunner()


def bayesline(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def assessable(subset: tuple[str, ...]) -> set[str]:
    """The gaps the spec says a subset of splits can measure."""
    have = set(subset)
    gaps = set()
    if "train" in have:
        gaps.add("avoidable_bias")
        if have & {"train_dev", "dev"}:
            gaps.add("variance")
    if {"train_dev", "dev"} <= have:
        gaps.add("data_mismatch")
    if {"dev", "test"} <= have:
        gaps.add("dev_overfitting")
    return gaps


def model_name(subset: tuple[str, ...]) -> str:
    return "only-" + "+".join(subset)


@pytest.fixture
def small_warehouse(layout, tmp_path, monkeypatch):
    """A small hand-written dataset published as split version 1, with its own config."""
    config_path = tmp_path / "subsets.toml"
    config_path.write_text(
        small_config_toml(dataset={"name": "subsets"}, splits={"salt": "subset-salt"})
    )
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config_path))
    config = load_config(config_path)
    ensure_dagster_home(layout)
    version = build_warehouse(layout, config, *simple_rows(n_app=150, n_web=90))
    return config, version, split_examples(layout, config, version)


def flawed_predictions(examples, splits) -> list[tuple]:
    """Gold labels with every fifth example flipped, so every split has some errors."""
    flip = {"neg": "pos", "pos": "neg"}
    return [
        (eid, flip[label] if i % 5 == 0 else label, 0.8)
        for i, (eid, split, label) in enumerate(examples)
        if split in splits
    ]


def expected_error(examples, split: str) -> float:
    """Train error is on train-dev's distribution: the training source's (web, ids w...)."""
    in_split = [
        i
        for i, (eid, s, _) in enumerate(examples)
        if s == split and (split != "train" or eid.startswith("w"))
    ]
    return sum(1 for i in in_split if i % 5 == 0) / len(in_split)


def overall_diagnoses(layout, config) -> dict[str, dict]:
    with open_reader(layout, config) as con:
        rows = fetch_dicts(con, "SELECT * FROM diagnosis WHERE slice_column = 'overall'")
    return {row["model_version"]: row for row in rows}


def latest_diagnosis_metadata() -> dict:
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("diagnosis"))
    assert event is not None and event.asset_materialization is not None
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


@pytest.mark.parametrize("subset", SUBSETS, ids=model_name)
def test_any_subset_of_splits_gets_exactly_the_gaps_it_can_measure(subset):
    errors = {split: ErrorRate(0.1 + 0.02 * i, 500) for i, split in enumerate(SPLITS)}
    result = diagnose(
        human_level=ErrorRate(0.02),
        **{split: errors[split] if split in subset else None for split in SPLITS},
    )
    assert {gap.key for gap in result.gaps} == assessable(subset)
    assert set(result.not_assessed) == set(GAP_KEYS) - assessable(subset)
    assert result.stages_measured == list(subset)
    for todo in result.not_assessed.values():
        named = todo.removeprefix("register ").split(" predictions ")[0].split(" and ")
        missing = {name.replace("-", "_") for name in named}
        assert missing <= set(SPLITS) - set(subset), todo


def test_no_split_at_all_is_refused_with_what_to_give():
    with pytest.raises(ValueError, match="at least one of train, train-dev, dev or test"):
        diagnose(human_level=ErrorRate(0.02))


@pytest.mark.slow
def test_the_pipeline_diagnoses_every_subset_of_splits_with_the_assessable_gaps_filled(
    small_warehouse, layout, tmp_path
):
    config, version, examples = small_warehouse
    for subset in SUBSETS:
        path = write_predictions_csv(
            tmp_path / f"{model_name(subset)}.csv", flawed_predictions(examples, subset)
        )
        register_predictions(layout, config, path, model_name(subset), version)

    result = bayesline("materialize", "--select", "slice_metrics+")
    assert result.exit_code == 0, result.output

    diagnoses = overall_diagnoses(layout, config)
    assert set(diagnoses) == {model_name(s) for s in SUBSETS}
    for subset in SUBSETS:
        row = diagnoses[model_name(subset)]
        measured = {s for s in SPLITS if row[f"{s}_error"] is not None}
        assert measured == set(subset), model_name(subset)
        for split in subset:
            assert row[f"{split}_error"] == pytest.approx(expected_error(examples, split))
        filled = {gap for gap in GAP_KEYS if row[gap] is not None}
        assert filled == assessable(subset), model_name(subset)
        assert set(json.loads(row["not_assessed"])) == set(GAP_KEYS) - filled
    models_table = latest_diagnosis_metadata()["models"]
    assert all(f"| {model_name(s)} |" in models_table for s in SUBSETS)
    with open_reader(layout, config) as con:
        statuses = con.execute(
            "SELECT step, status, count(*) FROM evaluation_status GROUP BY ALL ORDER BY 1"
        ).fetchall()
    assert statuses == [("diagnosis", "ok", 15), ("slice_metrics", "ok", 15)]


@pytest.mark.slow
def test_dev_only_and_dev_test_predictions_from_the_cli_are_diagnosed_beside_the_baseline(
    small_warehouse, layout, tmp_path
):
    config, version, examples = small_warehouse
    for name, splits in (("team-dev-test", ("dev", "test")), ("team-dev", ("dev",))):
        path = write_predictions_csv(tmp_path / f"{name}.csv", flawed_predictions(examples, splits))
        added = bayesline("predictions", "add", str(path), "-m", name, "-s", str(version))
        assert added.exit_code == 0, added.output

    result = bayesline("materialize", "--select", "baseline_predictions*")
    assert result.exit_code == 0, result.output

    baseline = baseline_model_version(version)
    diagnoses = overall_diagnoses(layout, config)
    assert set(diagnoses) == {baseline, "team-dev-test", "team-dev"}
    assert all(diagnoses[baseline][f"{s}_error"] is not None for s in SPLITS)
    assert diagnoses["team-dev-test"]["dev_overfitting"] is not None
    assert diagnoses["team-dev"]["dev_error"] == pytest.approx(expected_error(examples, "dev"))
    assert json.loads(diagnoses["team-dev"]["not_assessed"])["dev_overfitting"] == (
        "register test predictions to measure overfitting to dev"
    )
    metadata = latest_diagnosis_metadata()
    rows = {line.split("|")[1].strip(): line for line in metadata["models"].splitlines()[2:]}
    assert set(rows) == {baseline, "team-dev-test", "team-dev"}
    assert "| dev, test |" in rows["team-dev-test"] and "| dev |" in rows["team-dev"]
    assert "train, train_dev, dev, test" in rows[baseline]
    ece_cell = rows[baseline].split("|")[-2].strip()  # the baseline's ECE per split
    assert ece_cell.startswith("train ") and "test " in ece_cell
    assert "no probabilities" in rows["team-dev"]

    report = bayesline("report", "--model-version", "team-dev", "-o", str(tmp_path / "r.html"))
    assert report.exit_code == 0, report.output
    html_text = (tmp_path / "r.html").read_text()
    assert "Predictions on: dev." in html_text
    assert "register train predictions to measure avoidable bias" in html_text


@pytest.mark.slow
def test_one_model_that_fails_is_recorded_and_the_others_are_still_diagnosed(
    small_warehouse, layout, tmp_path
):
    config, version, examples = small_warehouse
    for name in ("healthy", "broken"):
        path = write_predictions_csv(
            tmp_path / f"{name}.csv", flawed_predictions(examples, ("dev", "test"))
        )
        register_predictions(layout, config, path, name, version)
    # A real fault: a directory stands where the broken model's chart must be written.
    blocked = layout.reports_dir / f"broken__v{version:04d}-error-by-stage.png"
    blocked.mkdir(parents=True)

    result = bayesline("materialize", "--select", "slice_metrics+")
    assert result.exit_code != 0
    assert "diagnosis failed for 1 model version(s)" in result.output
    assert "broken on split v1" in result.output and "healthy on" not in result.output
    assert set(overall_diagnoses(layout, config)) == {"healthy"}
    with open_reader(layout, config) as con:
        status = fetch_dicts(con, "SELECT * FROM evaluation_status WHERE step = 'diagnosis'")
    by_model = {row["model_version"]: row for row in status}
    assert by_model["healthy"]["status"] == "ok"
    assert by_model["broken"]["status"] == "failed"
    assert "Error" in by_model["broken"]["reason"]
    metadata = latest_diagnosis_metadata()
    assert "| healthy |" in metadata["models"] and "broken" in metadata["failed"]

    blocked.rmdir()
    again = bayesline("materialize", "--select", "slice_metrics+")
    assert again.exit_code == 0, again.output
    assert set(overall_diagnoses(layout, config)) == {"healthy", "broken"}
