"""Learning curves on the bench lake, next to one fit of the baseline on the same sample.

The reference is what a single point costs: the built-in baseline fitted once on the capped
train sample and predicting train-dev and dev. The curves fit six nested parts (2.45 times
the sample in all) and predict at each size, so about three to six references is their
expected price; more would be overhead of ours. Both read the same capped, hash-ordered
sample, so neither grows past `baseline_max_train_rows` on a bigger lake.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from benchmarks.bench_evaluation import newest_version
from benchmarks.bench_pipeline import bench_config, bench_layout
from benchmarks.measure import StageSpec
from warehouse.splits import published_versions

SPECS = [
    StageSpec("baseline_fit_reference", "benchmarks.bench_learning_curves:baseline_fit_reference"),
    StageSpec(
        "learning_curves",
        "benchmarks.bench_learning_curves:learning_curves",
        reference="baseline_fit_reference",
    ),
]


def prepare(work_dir: Path, rows: int) -> None:
    """A published split version (the pipeline group's, or one made here when run alone)."""
    from benchmarks.bench_evaluation import _publish_split_version

    if not published_versions(bench_layout(work_dir)):
        _publish_split_version(work_dir, rows)


def learning_curves(work_dir: Path, rows: int) -> dict:
    """What the learning_curves asset runs, without Dagster around it."""
    from evaluation.diagnosis_table import human_levels_from_config
    from evaluation.learning_curves import measure_learning_curves

    layout, config = bench_layout(work_dir), bench_config()
    humans = human_levels_from_config(0.05)
    curves = measure_learning_curves(layout, config, humans, newest_version(layout))
    return {
        "largest_training_set": curves.sizes[-1],
        "sizes": len(curves.sizes),
        "curves": len(curves.forecasts),
    }


def baseline_fit_reference(work_dir: Path, rows: int) -> dict:
    """One fit on the capped sample and one prediction of train-dev and dev."""
    from evaluation.learning_curves import load_ordered_splits
    from evaluation.training_hook import baseline_learner

    layout, config = bench_layout(work_dir), bench_config()
    tables, _ = load_ordered_splits(layout, config, newest_version(layout))
    predicted = baseline_learner(config)(
        tables["train"], pa.concat_tables([tables["train_dev"], tables["dev"]])
    )
    return {"largest_training_set": len(tables["train"]), "predicted": len(predicted)}
