"""The benchmark suite runs at a tiny size, so it cannot rot (timings are never asserted)."""

import json

import pytest

from benchmarks.bench_pipeline import run_benchmark

pytestmark = pytest.mark.slow


def test_the_pipeline_benchmark_writes_every_stage_next_to_its_reference(tmp_path):
    out = run_benchmark(3_000, tmp_path / "work", results_dir=tmp_path / "results")
    report = json.loads(out.read_text())
    stages = {s["stage"]: s for s in report["stages"]}
    assert set(stages) == {
        "ingest",
        "ingest_reference",
        "quality_gate",
        "publish",
        "publish_reference",
    }
    assert "ratio_to_reference" in stages["ingest"] and "ratio_to_reference" in stages["publish"]
    assert report["rows"] == 3_000 and report["machine"]["cores"] >= 1


def test_benchmarks_md_lists_every_stage_of_every_result_file(tmp_path):
    from benchmarks.markdown import render_benchmarks

    run_benchmark(2_000, tmp_path / "a", results_dir=tmp_path / "results")
    run_benchmark(3_000, tmp_path / "b", results_dir=tmp_path / "results")
    page = render_benchmarks(tmp_path / "results")
    rows = [
        line
        for line in page.splitlines()
        if line.startswith("| 2,000") or line.startswith("| 3,000")
    ]
    assert len(rows) == 10 and rows[0].startswith("| 2,000 | ingest_reference")
    assert "cores" in page
