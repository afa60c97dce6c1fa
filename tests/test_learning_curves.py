"""Learning curves through a team's own training command: a real script the test writes, on
a warehouse built from rows the test makes (not the demo generator)."""

from __future__ import annotations

import copy
import hashlib
import itertools
import random
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.run import materialize_pipeline
from bayesline.runner import ensure_dagster_home
from evaluation.diagnosis_table import human_levels_from_config
from evaluation.learning_curves import measure_learning_curves
from evaluation.pipeline import write_model_report
from evaluation.power_law import PowerLaw
from evaluation.training_hook import TrainingCommandError
from tests.conftest import SMALL_CONFIG, small_config_toml, write_csv
from warehouse.catalog import open_reader
from warehouse.config import ConfigError, load_config, parse_config
from warehouse.ingest import ingest_landing_files
from warehouse.splits import publish_split_version, version_path

# The planted model: error(n) = 1% + 10% * (n / 1000)^-0.8, errors nested across sizes.
PLANTED = PowerLaw(0.01, 0.1, 0.8, 1000)
HUMAN_LEVEL = 0.025

PLANTED_MODEL = """
import csv, hashlib, sys
from pathlib import Path
import pyarrow.parquet as pq

train, predict, output, log_dir = sys.argv[1:5]
ids = pq.read_table(train).column("example_id").to_pylist()
Path(log_dir, f"{len(ids)}.txt").write_text("\\n".join(ids))
error = C + A * (len(ids) / N_REF) ** -B
rows = pq.read_table(predict).to_pylist()
with open(output, "w", newline="") as handle:
    out = csv.writer(handle)
    out.writerow(["example_id", "predicted_label"])
    for row in rows:
        truth = "pos" if row["text"].startswith("good") else "neg"
        other = "neg" if truth == "pos" else "pos"
        u = int(hashlib.sha256(row["example_id"].encode()).hexdigest()[:8], 16) / 2**32
        out.writerow([row["example_id"], truth if u >= error else other])
"""


def planted_script(folder: Path) -> Path:
    law = f"C, A, B, N_REF = {PLANTED.c}, {PLANTED.a}, {PLANTED.b}, {PLANTED.n_ref}\n"
    path = folder / "planted_model.py"
    path.write_text(law + PLANTED_MODEL)
    return path


def config_with(command: str | None, **evaluation) -> dict:
    raw = copy.deepcopy(SMALL_CONFIG)
    raw["evaluation"] = {"human_level_error": HUMAN_LEVEL, **evaluation}
    if command is not None:
        raw["evaluation"]["training_command"] = command
    return raw


def land_rows(layout, n_training: int, n_target: int) -> None:
    """Two sources; users of one to three examples; the text says the label."""

    def rows(prefix: str, n: int):
        for i in range(n):
            digest = hashlib.sha256(f"{prefix}{i}".encode()).digest()
            label = "pos" if digest[0] % 2 else "neg"
            word = "good" if label == "pos" else "bad"
            yield (
                f"{prefix}{i}",
                f"{prefix}u{i // 3}",
                label,
                f"{word} thing {prefix}{i}",
                ("ios", "android", "web")[digest[1] % 3],
            )

    write_csv(layout.landing / "web" / "part-1.csv", rows("w", n_training))
    write_csv(layout.landing / "app" / "part-1.csv", rows("a", n_target))


@pytest.fixture
def planted_warehouse(layout, tmp_path):
    log_dir = tmp_path / "train-files"
    log_dir.mkdir()
    script = planted_script(tmp_path)
    command = f"{sys.executable} {script} {{train}} {{predict}} {{output}} {log_dir}"
    config = parse_config(config_with(command))
    land_rows(layout, n_training=4000, n_target=8000)
    ingest_landing_files(layout, config)
    publish_split_version(layout, config)
    return config, log_dir


def test_the_forecast_interval_covers_the_planted_size_that_reaches_human_level(
    layout, planted_warehouse
):
    config, _ = planted_warehouse
    curves = measure_learning_curves(
        layout, config, human_levels_from_config(config.evaluation.human_level_error)
    )
    dev = curves.forecast("dev")
    true_n = PLANTED.n_reaching(HUMAN_LEVEL)  # about 10,700: 1.6 times the largest set
    assert curves.sizes[-1] < true_n
    assert dev["n_needed_low"] <= true_n <= (dev["n_needed_high"] or float("inf"))
    assert dev["n_needed_high"] is not None and dev["n_needed_high"] < 4 * true_n
    assert dev["verdict"].startswith("about ")
    assert curves.learner == config.evaluation.training_command
    # The same numbers are in SQL, for the command's curves.
    with open_reader(layout, config) as con:
        stored = con.execute(
            "SELECT n_needed_low, n_needed_high FROM learning_curve_forecasts "
            "WHERE model_version = 'training-command' AND curve = 'dev' "
            "AND slice_column = 'overall'"
        ).fetchone()
        points = con.execute(
            "SELECT count(DISTINCT n_train) FROM learning_curves WHERE stage = 'dev'"
        ).fetchone()[0]
    assert stored == (dev["n_needed_low"], dev["n_needed_high"])
    assert points == len(curves.sizes) >= 5
    assert curves.chart_path.read_bytes().startswith(b"\x89PNG")


def test_each_training_set_holds_the_smaller_ones_and_whole_users(layout, planted_warehouse):
    config, log_dir = planted_warehouse
    config = parse_config(
        config_with(config.evaluation.training_command, baseline_max_train_rows=3000)
    )
    curves = measure_learning_curves(layout, config, {})
    sets = sorted((set(p.read_text().split("\n")) for p in log_dir.glob("*.txt")), key=len)
    assert [len(s) for s in sets] == curves.sizes
    assert curves.sizes[-1] <= 3000  # bounded like the baseline's sample
    assert all(small < large for small, large in itertools.pairwise(sets))
    train = version_path(layout, 1) / "train.parquet"
    users = dict(
        duckdb.sql(
            f"SELECT group_key, list(example_id) FROM read_parquet('{train}') GROUP BY 1"
        ).fetchall()
    )
    for chosen in sets:
        for members in users.values():
            inside = [m in chosen for m in members]
            assert all(inside) or not any(inside)
    # Without a human-level error there is nothing to forecast the dev curve to.
    assert "human_level_error" in curves.forecast("dev")["verdict"]


def write_script(folder: Path, body: str) -> str:
    path = folder / "model.py"
    path.write_text(textwrap.dedent(body))
    return f"{sys.executable} {path} {{train}} {{predict}} {{output}}"


def test_a_failing_command_is_reported_with_its_stderr(layout, planted_warehouse, tmp_path):
    command = write_script(tmp_path, "import sys\nsys.exit('out of GPU memory')\n")
    config = parse_config(config_with(command))
    with pytest.raises(TrainingCommandError, match=r"status 1 .*out of GPU memory"):
        measure_learning_curves(layout, config, {})


def test_predictions_missing_examples_are_refused_with_the_ids(layout, planted_warehouse, tmp_path):
    command = write_script(
        tmp_path,
        """
        import sys
        import pyarrow.parquet as pq
        rows = pq.read_table(sys.argv[2]).column("example_id").to_pylist()
        with open(sys.argv[3], "w") as out:
            out.write("example_id,predicted_label\\n")
            out.writelines(f"{i},pos\\n" for i in rows[1:])
        """,
    )
    config = parse_config(config_with(command))
    with pytest.raises(TrainingCommandError, match=r"no prediction for 1 example\(s\)"):
        measure_learning_curves(layout, config, {})


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        ("python model.py {train} {output}", "missing {predict}"),
        ("python model.py {train} {predict} {output} {model}", "unknown field(s) {model}"),
        ('python "model.py {train} {predict} {output}', "cannot be read"),
    ],
)
def test_a_training_command_without_its_three_files_is_refused_on_load(command, complaint):
    with pytest.raises(ConfigError) as raised:
        parse_config(config_with(command))
    message = str(raised.value)
    assert complaint in message and "\n" not in message
    assert "python my_model.py {train} {predict} {output}" in message


POSITIVE = ("great", "love", "excellent", "happy", "sturdy", "works")
NEGATIVE = ("awful", "hate", "broken", "sad", "flimsy", "fails")
NEUTRAL = ("the", "item", "arrived", "today", "box", "colour", "size", "price", "my", "it")


def land_noisy_reviews(layout, seed: int = 5) -> None:
    """Reviews whose words point to their label only most of the time; on the target's `web`
    device less often, so that slice is weak and gets flagged."""
    rng = random.Random(seed)

    def review(i: int, prefix: str) -> tuple:
        label, device = rng.choice(("pos", "neg")), rng.choice(("ios", "android", "web"))
        agree = 0.62 if prefix == "a" and device == "web" else 0.8
        own, other = (POSITIVE, NEGATIVE) if label == "pos" else (NEGATIVE, POSITIVE)
        words = [rng.choice(own if rng.random() < agree else other) for _ in range(3)]
        words += [*rng.sample(NEUTRAL, 4), f"{prefix}{i}"]
        rng.shuffle(words)
        return (f"{prefix}{i}", f"{prefix}u{i // 2}", label, " ".join(words), device)

    write_csv(layout.landing / "web" / "reviews.csv", [review(i, "w") for i in range(1600)])
    write_csv(layout.landing / "app" / "reviews.csv", [review(i, "a") for i in range(1400)])


@pytest.mark.slow
def test_a_dagster_run_draws_the_curves_for_each_flagged_slice_and_the_report_shows_them(
    layout, tmp_path, monkeypatch
):
    config_path = tmp_path / "bayesline.toml"
    config_path.write_text(small_config_toml(evaluation={"human_level_error": 0.02}))
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config_path))
    ensure_dagster_home(layout)
    land_noisy_reviews(layout)
    outcome = materialize_pipeline()
    assert outcome.success, outcome.events
    assert "learning_curves" in {e.name for e in outcome.events if e.kind == "materialized"}
    config = load_config(config_path)
    with open_reader(layout, config) as con:
        flagged = con.execute(
            "SELECT DISTINCT slice_column, slice_value FROM low_performing_slices "
            "WHERE parent_slice_column IS NULL"
        ).fetchall()
        with_dev_curve = con.execute(
            "SELECT slice_column, slice_value FROM learning_curve_forecasts WHERE curve = 'dev'"
        ).fetchall()
        stages = con.execute(
            "SELECT stage, count(DISTINCT n_train) FROM learning_curves "
            "WHERE slice_column = 'overall' GROUP BY 1"
        ).fetchall()
    assert ("device", "web") in flagged
    assert set(with_dev_curve) == {("overall", "all"), *flagged}
    assert dict(stages) == {"train": 6, "train_dev": 6, "dev": 6}
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("learning_curves"))
        metadata = event.asset_materialization.metadata
    assert metadata["variance"].value.startswith("Variance: ")
    assert "device = web" in metadata["forecasts"].value
    assert metadata["chart"].value.startswith("![learning curves](data:image/png;base64,")
    html_text = write_model_report(layout, config).read_text()
    assert "What more data buys" in html_text and "device = web" in html_text
