"""The mismatch explainer on the bench lake, next to one fit of the baseline's features on
the same sample.

The reference is one TF-IDF + logistic regression fit telling the sampled train-dev from the
sampled dev examples. The explainer fits five folds (each on four fifths) and once on all,
predicts every fold, ranks train's capped sample, counts every slice value over the whole
version and bootstraps: about six references is its expected price. Both read the same sample,
bounded by `baseline_max_train_rows`, so neither grows with the lake past that.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_evaluation import MODEL_VERSION, newest_version
from benchmarks.bench_pipeline import bench_config, bench_layout
from benchmarks.measure import StageSpec
from evaluation.predictions import predictions_path
from warehouse.splits import published_versions

SPECS = [
    StageSpec("domain_fit_reference", "benchmarks.bench_distribution_shift:domain_fit_reference"),
    StageSpec(
        "distribution_shift",
        "benchmarks.bench_distribution_shift:distribution_shift",
        reference="domain_fit_reference",
    ),
]


def prepare(work_dir: Path, rows: int) -> None:
    """A published split version with the evaluation group's synthetic predictions (made
    here when the group runs alone)."""
    from benchmarks import bench_evaluation

    layout = bench_layout(work_dir)
    versions = published_versions(layout)
    if not versions or not predictions_path(layout, MODEL_VERSION, versions[-1]).exists():
        bench_evaluation.prepare(work_dir, rows)


def distribution_shift(work_dir: Path, rows: int) -> dict:
    """What the distribution_shift asset runs, without Dagster around it."""
    from evaluation.distribution_shift import measure_distribution_shift

    layout, config = bench_layout(work_dir), bench_config()
    shift = measure_distribution_shift(
        layout, config, newest_version(layout), model_version=MODEL_VERSION
    )
    return {
        "classifier_examples": shift.summary["n_training"] + shift.summary["n_target"],
        "ranked": shift.n_ranked,
        "auc": round(shift.summary["auc"], 3),
        "slice_values": len(shift.slices),
    }


def domain_fit_reference(work_dir: Path, rows: int) -> dict:
    """One fit of the baseline's pipeline on the classifier's sample: train-dev against dev."""
    from evaluation.baseline import build_pipeline
    from evaluation.distribution_shift import load_shift_sample

    layout, config = bench_layout(work_dir), bench_config()
    sample, _, _ = load_shift_sample(layout, config, newest_version(layout), MODEL_VERSION)
    fitted = [r for r in sample.select(["role", "text"]).to_pylist() if r["role"] != "candidate"]
    texts, roles = [r["text"] for r in fitted], [r["role"] == "target" for r in fitted]
    build_pipeline().fit(texts, roles)
    return {"classifier_examples": len(roles)}
