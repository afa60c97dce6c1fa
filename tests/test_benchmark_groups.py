"""The evaluation, labeling and Dagster benchmark groups run at a tiny size, so they cannot rot.

Only their structure is checked: every stage ran, next to its reference, without failing.
Timings are never asserted.
"""

import json
from collections.abc import Iterable
from pathlib import Path

import pytest
from label_studio_sdk.types import AllRolesProjectList

from benchmarks import bench_labeling
from benchmarks.bench_dagster import toml_text
from benchmarks.bench_pipeline import BENCH_CONFIG, bench_config
from benchmarks.handoff_chart import write_handoff_chart
from benchmarks.measure import StageSpec, with_ratios
from benchmarks.suite import run_suite
from labeling.client import api_token, connect
from warehouse.config import load_config


def run_group(tmp_path: Path, group: str, rows: int = 2_000) -> dict[str, dict]:
    out = run_suite(
        rows, tmp_path / "work", results_dir=tmp_path / "results", groups=[group], progress=_quiet
    )
    stages = {s["stage"]: s for s in json.loads(out.read_text())["stages"]}
    failed = {name: s["failed"] for name, s in stages.items() if "failed" in s}
    assert not failed, failed
    return stages


def _quiet(_message: str) -> None:
    """Progress lines are for people watching a long run."""


@pytest.mark.slow
def test_the_evaluation_group_counts_the_same_slices_as_its_bare_group_by(tmp_path):
    stages = run_group(tmp_path, "evaluation")  # alone, it publishes its own split version
    assert set(stages) == {
        "slice_diagnosis",
        "slice_diagnosis_reference",
        "model_comparison",
        "model_comparison_reference",
    }
    library, reference = stages["slice_diagnosis"], stages["slice_diagnosis_reference"]
    assert library["reference"] == "slice_diagnosis_reference" and "ratio_to_reference" in library
    # overall and the 5 slice columns' values, per split: the same groups both ways
    assert library["slice_rows"] == reference["slice_rows"] > 4
    assert library["diagnosis_rows"] > 1
    compared, paired = stages["model_comparison"], stages["model_comparison_reference"]
    assert compared["reference"] == "model_comparison_reference"
    assert compared["comparison_rows"] == paired["comparison_rows"] > 4
    assert compared["compared"] == paired["compared"] > 0


@pytest.mark.slow
def test_the_learning_curves_group_trains_at_every_size_next_to_one_fit(tmp_path):
    stages = run_group(tmp_path, "learning_curves", rows=3_000)
    assert set(stages) == {"learning_curves", "baseline_fit_reference"}
    curves, one_fit = stages["learning_curves"], stages["baseline_fit_reference"]
    assert curves["reference"] == "baseline_fit_reference" and "ratio_to_reference" in curves
    # The largest part is the very sample the one fit uses; six sizes, four curves overall.
    assert curves["largest_training_set"] == one_fit["largest_training_set"] > 1_000
    assert curves["sizes"] == 6 and curves["curves"] >= 4


@pytest.mark.slow
def test_the_distribution_shift_group_runs_the_explainer_next_to_one_fit(tmp_path):
    stages = run_group(tmp_path, "distribution_shift", rows=3_000)
    assert set(stages) == {"distribution_shift", "domain_fit_reference"}
    shift, one_fit = stages["distribution_shift"], stages["domain_fit_reference"]
    assert shift["reference"] == "domain_fit_reference" and "ratio_to_reference" in shift
    # The same sample both ways; every train example of the training distribution ranked.
    assert shift["classifier_examples"] == one_fit["classifier_examples"] > 100
    assert shift["ranked"] > 100 and shift["slice_values"] > 4


@pytest.mark.slow
def test_the_single_file_group_ingests_one_file_next_to_a_bare_copy(tmp_path):
    stages = run_group(tmp_path, "single_file", rows=3_000)
    assert set(stages) == {"single_file_reference", "ingest_single_file"}
    ingest = stages["ingest_single_file"]
    assert ingest["reference"] == "single_file_reference" and "ratio_to_reference" in ingest
    assert (ingest["rows"], ingest["rows_loaded"], ingest["rows_already_present"]) == (
        3_000,
        3_000,
        0,
    )


@pytest.mark.slow
def test_the_cumulative_group_ingests_a_re_export_of_a_stored_file(tmp_path):
    (stage,) = run_group(tmp_path, "cumulative", rows=3_000).values()
    # 30 new rows (3007 among them), and rows 7, 1007 and 2007 corrected upstream.
    assert (stage["rows"], stage["rows_loaded"], stage["rows_updated"]) == (3_030, 33, 3)
    assert stage["rows_already_present"] == 2_997 and stage["rows_rejected"] == 0


@pytest.mark.slow
def test_the_handoff_group_streams_loads_and_exports_the_same_train_split(tmp_path):
    pytest.importorskip("datasets")
    stages = run_group(tmp_path, "handoff", rows=3_000)
    assert set(stages) == {
        "load_split_whole",
        "stream_split_batches",
        "stream_split_hf",
        "export_parquet",
    }
    whole, streamed = stages["load_split_whole"], stages["stream_split_batches"]
    assert streamed["reference"] == "load_split_whole" and "ratio_to_reference" in streamed
    assert 0 < whole["rows"] == streamed["rows"] == stages["stream_split_hf"]["rows"]
    assert stages["export_parquet"]["rows"] == 3_000
    chart = write_handoff_chart(tmp_path / "results", tmp_path / "handoff.png")
    assert chart is not None and chart.read_bytes()[:4] == b"\x89PNG"
    assert write_handoff_chart(tmp_path / "no-results", tmp_path / "none.png") is None


@pytest.mark.slow
def test_the_dagster_group_loads_the_code_location_and_runs_the_whole_job(tmp_path):
    stages = run_group(tmp_path, "dagster", rows=1_500)
    assert set(stages) == {
        "dagster_code_location_load",
        "dagster_fixed_overhead",
        "dagster_end_to_end",
    }
    assert stages["dagster_code_location_load"]["target_seconds"] == 3.0
    end_to_end, fixed = stages["dagster_end_to_end"], stages["dagster_fixed_overhead"]
    assert end_to_end["rows"] == 1_500 and fixed["rows"] == 1_000
    assert end_to_end["assets"] == fixed["assets"] >= 10 and end_to_end["checks"] >= 2


@pytest.mark.slow
@pytest.mark.labelstudio
def test_the_labeling_group_queues_tasks_next_to_one_raw_import(tmp_path, labelstudio, monkeypatch):
    settings, state = labelstudio
    # Both stages use the session's server instead of starting one each (half a minute apiece).
    monkeypatch.setenv(bench_labeling.SHARED_URL_ENV, state.url)
    monkeypatch.setenv(bench_labeling.SHARED_KEY_ENV, api_token(settings))
    monkeypatch.setenv("BAYESLINE_BENCH_TASKS", "50")
    try:
        stages = run_group(tmp_path, "labeling")
    finally:
        _delete_bench_projects(settings)
    assert set(stages) == {"labelstudio_queue", "labelstudio_queue_reference"}
    assert all(s["rows"] == s["pushed"] == 50 for s in stages.values())
    assert stages["labelstudio_queue"]["reference"] == "labelstudio_queue_reference"
    assert "ratio_to_reference" in stages["labelstudio_queue"]


def _delete_bench_projects(settings) -> None:
    with connect(settings) as client:
        # The SDK's pager leaves its item type unbound; it yields AllRolesProjectList.
        projects: Iterable[AllRolesProjectList] = client.projects.list(
            title=bench_labeling.PROJECT_TITLE
        )
        for project in projects:
            ours = (project.title or "").startswith(bench_labeling.PROJECT_TITLE)
            if ours and project.id is not None:
                client.projects.delete(project.id)


def test_a_skipped_stage_gets_no_rate_and_gives_no_ratio():
    specs = [StageSpec("reference", "m:f"), StageSpec("stage", "m:g", reference="reference")]
    stages = [{"stage": "reference", "skipped": "no server"}, {"stage": "stage", "seconds": 2.0}]
    with_ratios(stages, specs, rows=10)
    assert "rows_per_s" not in stages[0]
    assert stages[1]["rows_per_s"] == 5 and "ratio_to_reference" not in stages[1]


def test_the_dagster_runs_read_the_bench_config_from_the_toml_it_writes(tmp_path):
    path = tmp_path / "bayesline.toml"
    path.write_text(toml_text(BENCH_CONFIG))
    assert load_config(path).fingerprint() == bench_config().fingerprint()


@pytest.mark.slow
def test_the_spark_group_assigns_and_counts_like_duckdb(tmp_path, spark):
    # `spark` only to skip (or, under BAYESLINE_REQUIRE_SPARK, fail) without pyspark and Java:
    # each stage runs in its own process, with its own SparkSession.
    stages = run_group(tmp_path, "spark")
    assert set(stages) == {
        "split_assignment_duckdb",
        "split_assignment_spark",
        "slice_metrics_duckdb",
        "slice_metrics_spark",
    }
    assigned, on_duckdb = stages["split_assignment_spark"], stages["split_assignment_duckdb"]
    assert assigned["reference"] == "split_assignment_duckdb" and assigned["version"] == 1
    assert on_duckdb["version"] == 1 and assigned["spark_start_seconds"] > 0
    counted, reference = stages["slice_metrics_spark"], stages["slice_metrics_duckdb"]
    assert counted["slice_rows"] == reference["slice_rows"] > 4
    assert counted["low_performing"] == reference["low_performing"]
