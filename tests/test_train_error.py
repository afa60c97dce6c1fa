"""Train error is the error on what the model was fit on, from train-dev's distribution.

From the user's path: `bayesline materialize` (Dagster) with the baseline's cap binding on the
real dataset, and `bayesline predictions add` with a team's predictions that do or do not say
which train examples the model saw, on data whose error rates the test plants per distribution.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from evaluation.train_error import NO_TRAINING, TrainCounts, train_measure
from tests.conftest import one_row, small_config_toml, write_csv
from warehouse.catalog import fetch_dicts, open_reader
from warehouse.config import load_config
from warehouse.layout import WarehouseLayout

runner = CliRunner()
CAP = 300  # far below the real dataset's train split, so the baseline fits on a sample
DEVICES = ("ios", "android", "desktop")


def bayesline(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def overall_diagnosis(model_version: str) -> dict:
    layout = WarehouseLayout.from_env()
    with open_reader(layout, load_config()) as con:
        return fetch_dicts(
            con,
            "SELECT * FROM diagnosis WHERE model_version = ? AND slice_column = 'overall'",
            [model_version],
        )[0]


def error_in_sql(where: str, model_version: str) -> tuple[int, float]:
    """(n, error rate) of a model's predictions on the examples `where` picks, in plain SQL."""
    layout = WarehouseLayout.from_env()
    with open_reader(layout, load_config()) as con:
        n, error_rate = one_row(
            con.execute(
                "SELECT count(*), avg(CAST(p.predicted_label <> s.label AS DOUBLE)) "
                "FROM predictions AS p JOIN splits AS s "
                "ON s.example_id = p.example_id AND s.version = p.split_version "
                f"WHERE p.model_version = ? AND {where}",
                [model_version],
            )
        )
    return n, error_rate


# --- the baseline with its cap binding, on the real dataset --------------------------------


@pytest.mark.slow
@pytest.mark.shared_data
def test_with_the_cap_binding_train_error_is_the_error_on_the_baselines_md5_sample(
    shared_dataset, tmp_path, monkeypatch
):
    config_path = tmp_path / "sentiment.toml"
    config_path.write_text(
        f"""
[dataset]
name = "uci-sentiment"
label_column = "sentiment"
labels = ["0", "1"]
text_columns = ["reviews"]

[sources]
target = ["yelp"]

[splits]
salt = "train-error-check"
[splits.target]
train = 0.3
dev = 0.35
test = 0.35
[splits.training]
train = 0.85
train_dev = 0.15

[evaluation]
baseline_max_train_rows = {CAP}
"""
    )
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config_path))
    layout = WarehouseLayout.from_env().ensure()
    for name, source in (("amazon_cells", "amazon"), ("imdb", "imdb"), ("yelp", "yelp")):
        (layout.landing / source).mkdir(parents=True)
        shutil.copy(shared_dataset / f"{name}_labelled.txt", layout.landing / source)
    assert bayesline("materialize").exit_code == 0
    model = "baseline-tfidf-logreg-v0001"
    # The fitted sample drawn again in SQL from its definition (the CAP train ids with the
    # smallest md5), not from the in_training_set marks the baseline stored.
    sample = (
        "s.split = 'train' AND s.example_id IN (SELECT example_id FROM splits WHERE version = 1 "
        f"AND split = 'train' ORDER BY md5(example_id), example_id LIMIT {CAP})"
    )
    train_n, train_error = error_in_sql(f"{sample} AND s.distribution = 'training'", model)
    target_n, target_error = error_in_sql(f"{sample} AND s.distribution = 'target'", model)
    all_n, all_train_error = error_in_sql("s.split = 'train'", model)
    row = overall_diagnosis(model)
    assert train_n + target_n == CAP < all_n
    assert (row["train_n"], row["target_in_train_n"]) == (train_n, target_n)
    assert row["train_error"] == pytest.approx(train_error, abs=1e-12)
    assert row["target_in_train_error"] == pytest.approx(target_error, abs=1e-12)
    assert (
        f"the {train_n:,} training-distribution examples among the {CAP} the baseline was fit "
        f"on (an md5 sample of {all_n:,} train examples)"
    ) in row["train_measured_on"]
    # Error over all of train is mostly held-out error: far above error on what was fitted.
    assert all_train_error > train_error + 0.1
    with open_reader(layout, load_config()) as con:
        marked = con.execute(
            "SELECT count_if(in_training_set), count(in_training_set), count(*) FROM predictions"
        ).fetchone()
    assert marked[0] == CAP and marked[1] == marked[2]  # the baseline marks every prediction
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("diagnosis"))
    metadata = event.asset_materialization.metadata
    assert metadata["train_error_measured_on"].value == row["train_measured_on"]
    assert f"on {target_n:,} examples" in metadata["target_in_train_error"].value


# --- a team's predictions on data with planted error rates ---------------------------------


def planted(example_id: str, rate: float, salt: str = "plant") -> bool:
    """Whether this example is one of the `rate` share planted wrong (sha256, reproducible)."""
    digest = hashlib.sha256(f"{salt}\x1f{example_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 10_000 < rate * 10_000


@pytest.fixture
def planted_warehouse(layout, tmp_path, monkeypatch) -> list[dict]:
    """A published version of 2,400 training-distribution and 1,500 target examples (one user
    each, so every example is its own component); its examples with split and distribution."""
    config_path = tmp_path / "bayesline.toml"
    config_path.write_text(small_config_toml(splits={"salt": "planted"}))
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config_path))
    for source, n in (("web", 2400), ("app", 1500)):
        rows = [
            (
                f"{source}-{i:05d}",
                f"u-{source}-{i}",
                ("neg", "pos")[i % 2],
                f"{source} note {i}",
                DEVICES[i % 3],
            )
            for i in range(n)
        ]
        write_csv(layout.landing / source / "export.csv", rows)
    assert bayesline("materialize", "--select", "*published_splits").exit_code == 0
    with open_reader(layout, load_config()) as con:
        return fetch_dicts(
            con, "SELECT example_id, label, split, distribution FROM splits WHERE version = 1"
        )


def flipped(label: str) -> str:
    return "pos" if label == "neg" else "neg"


def write_predictions(path: Path, examples: list[dict], wrong, fitted=None) -> Path:
    """A CSV predicting every example: wrong(example) says which are errors; fitted(example)
    fills in_training_set (left out when fitted is None)."""
    header = ["example_id", "predicted_label"] + ([] if fitted is None else ["in_training_set"])
    rows = []
    for e in examples:
        label = flipped(e["label"]) if wrong(e) else e["label"]
        mark = [] if fitted is None else [fitted(e)]
        rows.append((e["example_id"], label, *mark))
    return write_csv(path, rows, header=header)


def evaluate() -> None:
    selection = "key:slice_metrics or key:low_performing_slices or key:diagnosis"
    assert bayesline("materialize", "--select", selection).exit_code == 0


RATES = {"training": 0.05, "target": 0.20}  # the target is harder, in train as in dev


@pytest.mark.slow
def test_a_model_that_does_not_overfit_has_train_and_train_dev_error_within_noise(
    planted_warehouse, tmp_path
):
    examples = planted_warehouse
    path = write_predictions(
        tmp_path / "steady.csv",
        examples,
        wrong=lambda e: planted(e["example_id"], RATES[e["distribution"]]),
        fitted=lambda e: "true" if e["split"] == "train" else "",
    )
    added = bayesline("predictions", "add", str(path), "-m", "steady", "-s", "1")
    assert added.exit_code == 0, added.output
    evaluate()
    row = overall_diagnosis("steady")
    train, train_dev = row["train_error"], row["train_dev_error"]
    noise = 1.96 * math.sqrt(
        RATES["training"] * (1 - RATES["training"]) * (1 / row["train_n"] + 1 / row["train_dev_n"])
    )
    assert abs(train - train_dev) < noise
    assert "variance" not in row["problems"] and "data_mismatch" in row["problems"]
    assert not any("leakage" in caveat for caveat in json.loads(row["caveats"]))
    assert row["target_in_train_error"] == pytest.approx(RATES["target"], abs=0.05)
    n_training, _ = error_in_sql("s.split = 'train' AND s.distribution = 'training'", "steady")
    assert row["train_n"] == n_training
    # The old measure, over all of train, mixes in the harder target examples.
    _, all_train = error_in_sql("s.split = 'train'", "steady")
    assert all_train > train_dev and all_train > train
    report = tmp_path / "steady.html"
    assert bayesline("report", "-m", "steady", "-o", str(report)).exit_code == 0
    html = report.read_text()
    assert "target in train (context)" in html and "training-distribution examples among" in html


def team_predictions(examples: list[dict]) -> tuple:
    """A model fit on about 60% of train: 2% wrong on what it saw, 12% on held-out training
    data, 25% on the target distribution."""

    def fitted(e: dict) -> bool:
        return e["split"] == "train" and planted(e["example_id"], 0.6, salt="fit")

    def wrong(e: dict) -> bool:
        if fitted(e):
            return planted(e["example_id"], 0.02)
        return planted(e["example_id"], 0.12 if e["distribution"] == "training" else 0.25)

    return wrong, fitted


@pytest.mark.slow
def test_a_teams_predictions_say_what_the_model_saw_or_the_diagnosis_says_it_assumes(
    planted_warehouse, tmp_path, layout
):
    examples = planted_warehouse
    wrong, fitted = team_predictions(examples)
    marks = write_predictions(
        tmp_path / "marked.csv",
        examples,
        wrong,
        lambda e: ("true" if fitted(e) else "false") if e["split"] == "train" else "",
    )
    unmarked = write_predictions(tmp_path / "unmarked.csv", examples, wrong)
    added = bayesline("predictions", "add", str(marks), "-m", "marked", "-s", "1")
    n_fitted = sum(1 for e in examples if fitted(e))
    assert f"the model was fit on {n_fitted:,} of its" in added.stdout
    assert (
        bayesline("predictions", "add", str(unmarked), "-m", "unmarked", "-s", "1").exit_code == 0
    )
    evaluate()

    marked = overall_diagnosis("marked")
    n, error = error_in_sql(
        "s.split = 'train' AND p.in_training_set AND s.distribution = 'training'", "marked"
    )
    assert (marked["train_n"], marked["train_error"]) == (n, pytest.approx(error, abs=1e-12))
    assert "the model was fit on (marked in_training_set, of" in marked["train_measured_on"]
    assert "variance" in marked["problems"]  # 2% on what it saw, 12% on train-dev
    assert not any("assumes" in c for c in json.loads(marked["caveats"]))

    assumed = overall_diagnosis("unmarked")
    n, error = error_in_sql("s.split = 'train' AND s.distribution = 'training'", "unmarked")
    assert (assumed["train_n"], assumed["train_error"]) == (n, pytest.approx(error, abs=1e-12))
    assert "This assumes the model saw every train example" in assumed["train_measured_on"]
    assert any(c.startswith("Train error assumes") for c in json.loads(assumed["caveats"]))
    assert assumed["train_error"] > marked["train_error"]


@pytest.mark.slow
def test_a_predictions_file_stored_before_in_training_set_still_reads(
    planted_warehouse, tmp_path, layout
):
    examples = planted_warehouse
    wrong, _ = team_predictions(examples)
    path = write_predictions(tmp_path / "old.csv", examples, wrong)
    assert bayesline("predictions", "add", str(path), "-m", "old", "-s", "1").exit_code == 0
    stored = layout.predictions_dir / "old__v0001.parquet"
    stored.chmod(0o644)  # rewrite it as a lake file from before the column existed
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * EXCLUDE (in_training_set) FROM read_parquet('{stored}')) "
            f"TO '{tmp_path / 'old.parquet'}' (FORMAT parquet)"
        )
    shutil.copy(tmp_path / "old.parquet", stored)
    again = bayesline("predictions", "add", str(path), "-m", "old", "-s", "1")
    assert "already registered" in again.stdout
    evaluate()
    assert "This assumes" in overall_diagnosis("old")["train_measured_on"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mark", "message"),
    [
        (
            lambda e: "true" if e["split"] != "test" else "yes please",
            r"in_training_set value\(s\) are not true or false, e\.g\. .* -> yes please",
        ),
        (
            lambda e: "true" if e["split"] in ("train", "dev") else "",
            r"prediction\(s\) outside train are marked in_training_set = true, e\.g\. .*\(dev\)",
        ),
        (
            lambda e: "true" if e["split"] == "train" and e["example_id"] < "app-00500" else "",
            r"train prediction\(s\) have an empty in_training_set while others have one",
        ),
    ],
    ids=["not a boolean", "true outside train", "train marked in part"],
)
def test_bad_in_training_set_marks_are_refused_in_one_line_and_nothing_is_stored(
    planted_warehouse, tmp_path, mark, message
):
    path = write_predictions(tmp_path / "bad.csv", planted_warehouse, lambda e: False, mark)
    refused = runner.invoke(app, ["predictions", "add", str(path), "-m", "bad", "-s", "1"])
    assert refused.exit_code == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert re.search(message, lines[0]), lines[0]
    assert "bad" not in bayesline("predictions", "list").stdout


def test_typed_in_train_error_says_bayesline_cannot_see_what_it_was_measured_on():
    typed = json.loads(bayesline("diagnose", "--human", "1", "--train", "5", "--json").stdout)
    assert "(--train, typed in: Bayesline cannot see which)" in typed["train_measured_on"]
    assert typed["target_in_train"] is None
    without = json.loads(bayesline("diagnose", "--human", "1", "--dev", "5", "--json").stdout)
    assert without["train_measured_on"] is None


# --- the rule on counts, including the cases the datasets above do not reach ----------------


def counts(**given) -> TrainCounts:
    base = dict(
        predicted=1000, marked=True, fitted=400, training_n=300, training_errors=6,
        target_n=100, target_errors=20,
    )  # fmt: skip
    return TrainCounts(**(base | given))


def test_train_error_is_on_the_fitted_training_distribution_and_target_is_apart():
    measure = train_measure(counts(), "the model")
    assert (measure.error.rate, measure.error.n) == (0.02, 300)
    assert (measure.target_in_train.rate, measure.target_in_train.n) == (0.2, 100)
    assert not measure.assumed
    assert measure.measured_on.startswith(
        "the 300 training-distribution examples among the 400 the model was fit on (marked "
        "in_training_set, of 1,000 train examples predicted); the 100 target examples"
    )


def test_a_train_split_without_training_distribution_falls_back_to_every_fitted_example():
    measure = train_measure(counts(fitted=100, training_n=0, training_errors=0), "the baseline")
    assert (measure.error.rate, measure.error.n) == (0.2, 100)
    assert measure.target_in_train is None  # it is the train error itself now
    assert measure.measured_on.endswith(NO_TRAINING)
    assert "an md5 sample of 1,000 train examples" in measure.measured_on


def test_unmarked_predictions_assume_every_train_example_was_seen_and_say_so():
    measure = train_measure(
        counts(marked=False, fitted=1000, training_n=800, training_errors=80, target_n=200),
        "the model",
    )
    assert measure.assumed and measure.error.n == 800
    assert measure.measured_on.startswith(
        "the 800 training-distribution examples among the 1,000 train examples predicted"
    )
    assert "This assumes the model saw every train example" in measure.measured_on


def test_a_model_fit_on_none_of_its_train_predictions_has_no_train_error():
    measure = train_measure(
        counts(fitted=0, training_n=0, training_errors=0, target_n=0, target_errors=0),
        "the model",
    )
    assert measure.error is None and measure.target_in_train is None
    assert "none of the 1,000 train examples predicted is marked" in measure.measured_on
