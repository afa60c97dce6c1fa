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
