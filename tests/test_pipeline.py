"""The Dagster graph, run for real: Dagster's own executor on a real instance in tmp_path."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from assets.definitions import defs
from assets.run import materialize_pipeline
from bayesline.demo import generate_demo_data
from bayesline.runner import ensure_dagster_home
from quality.gate import CHECK_NAMES, CHECK_SEVERITIES
from tests.conftest import REPO_ROOT, point_environment_at, write_csv
from warehouse.catalog import open_reader
from warehouse.config import load_config
from warehouse.layout import WarehouseLayout
from warehouse.splits import published_versions

pytestmark = pytest.mark.slow
ALL_ASSETS = (
    "examples",
    "rejected_rows",
    "published_splits",
    "baseline_predictions",
    "landed_predictions",
    "slice_metrics",
    "low_performing_slices",
    "labeling_queue",
    "human_annotations",
    "human_baselines",
    "label_review",
    "diagnosis",
    "learning_curves",
    "distribution_shift",
    "model_comparison",
)


def with_demo_data(layout: WarehouseLayout) -> WarehouseLayout:
    ensure_dagster_home(layout)
    generate_demo_data(layout.landing, seed=7, n_training=1500, n_target=900)
    return layout


@pytest.fixture
def demo_layout(layout):
    return with_demo_data(layout)


def run(select: str | None = None):
    outcome = materialize_pipeline(select)
    checks = {e.name: e.ok for e in outcome.events if e.kind == "check"}
    materialized = {e.name for e in outcome.events if e.kind == "materialized"}
    return outcome, checks, materialized


@pytest.fixture(scope="module")
def first_demo_run(tmp_path_factory: pytest.TempPathFactory):
    """The whole pipeline run once over the demo data, done once for this module: its home
    and what `run()` said. Tests never use the home in place (`after_first_run` copies it)."""
    home = tmp_path_factory.mktemp("first-run") / "bayesline-home"
    with pytest.MonkeyPatch.context() as env:
        point_environment_at(home, env)
        with_demo_data(WarehouseLayout(home).ensure())
        return home, run()


@pytest.fixture
def after_first_run(first_demo_run, isolated_environment):
    """This test's own copy of the warehouse and Dagster instance of the first demo run, and
    that run's (outcome, checks, materialized)."""
    home, first = first_demo_run
    shutil.copytree(home, isolated_environment)
    layout = WarehouseLayout(isolated_environment)
    ensure_dagster_home(layout)
    return layout, first


def test_the_definitions_load_with_the_expected_asset_graph():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    parents = {
        key: {p.to_user_string() for p in graph.get(dg.AssetKey(key)).parent_keys} for key in keys
    }
    assert parents == {
        "examples": set(),
        "rejected_rows": set(),
        "published_splits": {"examples"},
        "baseline_predictions": {"published_splits"},
        "landed_predictions": set(),
        "slice_metrics": {"baseline_predictions", "landed_predictions"},
        "low_performing_slices": {"baseline_predictions", "landed_predictions"},
        "labeling_queue": {"low_performing_slices"},
        "human_annotations": {"labeling_queue"},
        "human_baselines": {"human_annotations"},
        "label_review": {"human_annotations"},
        "diagnosis": {"slice_metrics", "low_performing_slices", "human_baselines"},
        "model_comparison": {"baseline_predictions", "landed_predictions"},
        "learning_curves": {"low_performing_slices", "human_baselines"},
        "distribution_shift": {"diagnosis"},
    }
    checks = {key.name: key.asset_key.to_user_string() for key in graph.asset_check_keys}
    assert checks == {
        **{name: "examples" for name in CHECK_NAMES},
        "splits_are_leakage_free": "published_splits",
        "splits_follow_configured_fractions": "published_splits",
        "challenger_does_not_regress_champion": "model_comparison",
    }
    blocking = {
        spec.name
        for check_def in defs.asset_checks or []
        for spec in check_def.check_specs
        if spec.blocking
    }
    assert blocking == {n for n in CHECK_NAMES if CHECK_SEVERITIES[n] == "error"}
    assert defs.resolve_sensor_def("landing_files_sensor").job_name == "bayesline_pipeline"
    sensor = defs.resolve_sensor_def("label_studio_annotations_sensor")
    assert sensor.job_name == "bayesline_annotations"


def test_the_demo_runs_end_to_end_through_dagster_and_is_idempotent(after_first_run):
    demo_layout, (outcome, checks, materialized) = after_first_run
    assert outcome.success, outcome.events
    assert materialized == set(ALL_ASSETS)
    blocking = {n for n in CHECK_NAMES if CHECK_SEVERITIES[n] == "error"}
    assert all(checks[n] for n in blocking), checks
    # The demo plants near-duplicates across sources: the warning must notice them.
    assert checks["examples_have_no_cross_source_duplicates"] is False
    config = load_config()
    with open_reader(demo_layout, config) as con:
        loaded, rejected = con.execute(
            "SELECT (SELECT count(*) FROM examples), (SELECT count(*) FROM rejected_rows)"
        ).fetchone()
        per_split = dict(
            con.execute(
                "SELECT split, count(*) FROM splits WHERE version = 1 GROUP BY split"
            ).fetchall()
        )
        dev_sources = con.execute(
            "SELECT DISTINCT source FROM splits WHERE split IN ('dev', 'test')"
        ).fetchall()
    assert loaded > 2000 and rejected > 0
    assert set(per_split) == {"train", "train_dev", "dev", "test"}
    assert dev_sources == [("app_reviews",)]
    # The run is recorded in the instance, with the version in the metadata.
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("published_splits"))
        assert event.asset_materialization.metadata["version"].value == 1
    again, _, _ = run()
    assert again.success and published_versions(demo_layout) == [1]


def test_a_file_that_breaks_a_blocking_check_stops_publishing(after_first_run):
    demo_layout, (first, _, _) = after_first_run
    assert first.success
    bad_rows = [(f"x{i}", "u1", "maybe", f"odd {i}", "web") for i in range(30)]
    write_csv(
        demo_layout.landing / "web_reviews" / "broken_export.csv",
        bad_rows,
        header=["review_id", "user_id", "sentiment", "text", "channel"],
    )
    outcome, checks, materialized = run()
    assert not outcome.success or "published_splits" not in materialized
    assert checks["batches_have_sane_row_counts"] is False
    assert "published_splits" not in materialized
    assert published_versions(demo_layout) == [1]


def test_the_landing_sensor_requests_a_run_only_for_new_files(demo_layout):
    sensor = defs.resolve_sensor_def("landing_files_sensor")
    resources = dict(defs.resources)
    with dg.DagsterInstance.get() as instance:
        first = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(first, dg.RunRequest)
        run("examples")
        second = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(second, dg.SkipReason)


@pytest.mark.shared_data
def test_the_real_sentiment_dataset_splits_with_yelp_as_the_target(
    shared_dataset, tmp_path, monkeypatch
):
    config_path = tmp_path / "sentiment.toml"
    config_path.write_text(
        """
[dataset]
name = "uci-sentiment"
label_column = "sentiment"
labels = ["0", "1"]
text_columns = ["reviews"]

[sources]
target = ["yelp"]

[splits]
salt = "uci-sentiment-v1"
[splits.target]
train = 0.2
dev = 0.4
test = 0.4
[splits.training]
train = 0.9
train_dev = 0.1
"""
    )
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config_path))
    layout = WarehouseLayout.from_env().ensure()
    ensure_dagster_home(layout)
    for name, source in (("amazon_cells", "amazon"), ("imdb", "imdb"), ("yelp", "yelp")):
        (layout.landing / source).mkdir(parents=True)
        shutil.copy(shared_dataset / f"{name}_labelled.txt", layout.landing / source)
    outcome = materialize_pipeline()
    assert outcome.success, outcome.events
    config = load_config(config_path)
    with open_reader(layout, config) as con:
        by_source = dict(con.execute("SELECT source, count(*) FROM examples GROUP BY 1").fetchall())
        dev_test = con.execute(
            "SELECT DISTINCT source FROM splits WHERE version = 1 AND split IN ('dev', 'test')"
        ).fetchall()
        trailing = con.execute(
            "SELECT count(*) FROM examples WHERE reviews <> trim(reviews)"
        ).fetchone()
        # The diagnosis recomputed by hand: one SQL query over predictions and splits. Train
        # error is on the fitted examples of train-dev's (the training) distribution.
        by_hand = dict(
            con.execute(
                """
                SELECT s.split, avg(CAST(p.predicted_label <> s.label AS DOUBLE))
                FROM predictions AS p
                JOIN splits AS s ON s.example_id = p.example_id AND s.version = p.split_version
                WHERE p.model_version = 'baseline-tfidf-logreg-v0001'
                  AND (s.split <> 'train' OR (p.in_training_set AND s.distribution = 'training'))
                GROUP BY s.split
                """
            ).fetchall()
        )
        diagnosed = con.execute(
            "SELECT train_error, train_dev_error, dev_error, test_error, problems FROM diagnosis "
            "WHERE slice_column = 'overall'"
        ).fetchone()
    assert diagnosed[:4] == pytest.approx(
        (by_hand["train"], by_hand["train_dev"], by_hand["dev"], by_hand["test"]), abs=1e-12
    )
    assert by_hand["dev"] > by_hand["train"]  # Yelp is a different distribution
    assert diagnosed[4]  # something is worth working on
    assert set(by_source) == {"amazon", "imdb", "yelp"}
    assert all(950 <= n <= 1000 for n in by_source.values())  # a few exact duplicates dropped
    assert dev_test == [("yelp",)]
    assert trailing == (0,)


def test_the_repository_config_is_what_the_demo_uses():
    assert load_config(REPO_ROOT / "bayesline.toml").dataset.name == "demo-reviews"
