"""The benchmark suite runs at a tiny size, so it cannot rot (timings are never asserted)."""

import json

import pytest

from benchmarks.markdown import render_benchmarks, verdict
from benchmarks.suite import GROUPS, run_suite

pytestmark = pytest.mark.slow

PIPELINE_STAGES = {
    "ingest",
    "ingest_reference",
    "quality_gate",
    "quality_gate_reference",
    "publish",
    "publish_reference",
    "publish_pandas_sklearn",
}


def _quiet(_message: str) -> None:
    pass


#: What an earlier run at 2,000 rows left in its results file: one labeling stage, which a run
#: of the pipeline group must keep, and one pipeline stage, which it must replace.
#: (The earlier ingest has no `rows_loaded`, which every measured ingest reports.)
EARLIER_STAGES = [
    {"group": "labeling", "stage": "labelstudio_queue", "seconds": 2.1, "rows": 2_000},
    {"group": "pipeline", "stage": "ingest", "seconds": 1.5, "rows": 2_000},
]


@pytest.fixture(scope="module")
def suite_results(tmp_path_factory):
    """Two tiny pipeline runs into one results folder: 2,000 rows over an earlier result of
    both groups, and 3,000 rows. The tests below read them."""
    root = tmp_path_factory.mktemp("bench")
    results = root / "results"
    results.mkdir()
    earlier = [{**stage, "rows_per_s": 952, "peak_rss_mib": 310} for stage in EARLIER_STAGES]
    (results / "bench-2000.json").write_text(json.dumps({"rows": 2_000, "stages": earlier}))
    for run, rows in enumerate((2_000, 3_000)):
        run_suite(rows, root / f"w{run}", results, ["pipeline"], _quiet)
    return root


def test_the_pipeline_group_measures_every_stage_next_to_its_reference(suite_results):
    report = json.loads((suite_results / "results" / "bench-3000.json").read_text())
    stages = {s["stage"]: s for s in report["stages"]}
    assert set(stages) == PIPELINE_STAGES
    assert not [s for s in stages.values() if "failed" in s]
    for name in ("ingest", "quality_gate", "publish"):
        assert stages[name]["reference"] == f"{name}_reference"
        assert stages[name]["ratio_to_reference"] > 0
    assert stages["ingest"]["rows_loaded"] == 3_000 and stages["quality_gate"]["gate_passed"]
    split_rows = json.loads(stages["publish_pandas_sklearn"]["split_rows"])
    assert sum(split_rows.values()) == 3_000
    assert report["rows"] == 3_000 and report["machine"]["cores"] >= 1


def test_benchmarks_md_has_a_table_per_run_size_and_judges_the_targets(suite_results):
    page = render_benchmarks(suite_results / "results", suite_results / "no-profiles")
    assert page.index("## 2,000 rows") < page.index("## 3,000 rows")
    stage_rows = [line for line in page.splitlines() if line.startswith("| ingest |")]
    assert len(stage_rows) == 2
    assert "pandas + scikit-learn way" in page and "cores" in page


def test_a_run_of_some_groups_keeps_the_other_groups_results(suite_results):
    stages = json.loads((suite_results / "results" / "bench-2000.json").read_text())["stages"]
    names = [s["stage"] for s in stages]
    groups = [s["group"] for s in stages]
    # Run over an earlier 2,000-row result: its pipeline stage replaced, its labeling one kept.
    assert names.count("ingest") == 1 and "labelstudio_queue" in names
    ingest = next(s for s in stages if s["stage"] == "ingest")
    assert ingest["rows_loaded"] == 2_000
    assert groups == sorted(groups, key=list(GROUPS).index)  # in the order the suite runs them


def test_a_stage_over_its_target_is_reported_as_missed():
    assert verdict({"stage": "ingest", "ratio_to_reference": 1.4, "seconds": 1}) == "met"
    assert verdict({"stage": "ingest", "ratio_to_reference": 1.6, "seconds": 1}).startswith(
        "MISSED"
    )
    big = {"stage": "publish", "ratio_to_reference": 1.0, "rows": 10**7, "peak_rss_mib": 4096}
    assert "peak RSS" in verdict({**big, "seconds": 1})
    assert verdict({"stage": "dagster_code_location_load", "seconds": 3.5}).startswith("MISSED")
    assert verdict({"stage": "ingest_reference", "seconds": 1}) == ""


def test_a_stage_profile_names_the_functions_that_took_the_time(tmp_path):
    from benchmarks.profile_stage import profile_stage

    out = profile_stage("publish", 2_000, tmp_path / "work", tmp_path / "profiles")
    assert out.name == "publish-2000.txt"
    assert "publish_split_version" in out.read_text()


def hog_memory(work_dir, rows):
    """A stage that wants more memory than its cap (used by the test below, in a child)."""
    return {"size": len(bytearray(3 * 2**30))}


def test_a_stage_that_outgrows_its_memory_cap_reports_why(tmp_path):
    from benchmarks.measure import StageSpec, run_stage

    spec = StageSpec("hog", "tests.test_benchmarks:hog_memory", memory_limit_gib=1)
    result = run_stage(spec, tmp_path, 1)
    assert result["failed"].startswith("MemoryError"), result
