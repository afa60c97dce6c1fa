"""Slice metrics and diagnosis on a predictions table as large as the split version, next to
one bare DuckDB GROUP BY that counts the same errors per split and per slice value; and the
paired comparison of two such models, next to one bare DuckDB paired GROUP BY over the same
files (the discordant counts per split and slice value, nothing else).

The predictions are synthetic but shaped like a real model's: wrong for a hash-chosen tenth or so
of the examples, more often on dev and test than on train, and far more often on one value of
`slice_1`, so the low-performing-slice test has something to find.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from benchmarks.bench_pipeline import SLICES, bench_config, bench_layout
from benchmarks.measure import StageSpec
from warehouse.hashing import quote_literal
from warehouse.layout import WarehouseLayout
from warehouse.splits import published_versions, version_path

MODEL_VERSION = "bench-model"
CHALLENGER_VERSION = "bench-challenger"  # the same model with other errors, for the comparison
#: Errors per thousand examples by split; dev and test sit above train, as they usually do.
ERRORS_PER_MILLE = {"train": 60, "train_dev": 80, "dev": 110, "test": 115}
WEAK_SLICE = ("slice_1", "v0")  # a quarter of the examples, wrong three times as often
WEAK_SLICE_EXTRA_PER_MILLE = 200

SPECS = [
    StageSpec("slice_diagnosis_reference", "benchmarks.bench_evaluation:slice_diagnosis_reference"),
    StageSpec(
        "slice_diagnosis",
        "benchmarks.bench_evaluation:slice_diagnosis",
        reference="slice_diagnosis_reference",
    ),
    StageSpec(
        "model_comparison_reference", "benchmarks.bench_evaluation:model_comparison_reference"
    ),
    StageSpec(
        "model_comparison",
        "benchmarks.bench_evaluation:model_comparison",
        reference="model_comparison_reference",
    ),
]


def prepare(work_dir: Path, rows: int) -> None:
    """Register predictions for every example of the newest split version (untimed)."""
    from evaluation.predictions import register_predictions

    layout, config = bench_layout(work_dir), bench_config()
    if not published_versions(layout):
        _publish_split_version(work_dir, rows)  # run alone (`--only evaluation`)
    version = newest_version(layout)
    for model, salt in ((MODEL_VERSION, ""), (CHALLENGER_VERSION, "challenger")):
        source = work_dir / f"{model}.parquet"
        write_synthetic_predictions(layout, version, source, salt)
        register_predictions(layout, config, source, model, version)


def _publish_split_version(work_dir: Path, rows: int) -> None:
    from benchmarks import bench_pipeline

    bench_pipeline.prepare(work_dir, rows)
    bench_pipeline.ingest(work_dir, rows)
    bench_pipeline.publish(work_dir, rows)


def newest_version(layout: WarehouseLayout) -> int:
    return published_versions(layout)[-1]


def write_synthetic_predictions(
    layout: WarehouseLayout, version: int, out: Path, salt: str = ""
) -> None:
    """One prediction per example: the gold label, flipped for a hash-chosen share (another
    salt flips another share, so two models disagree on some examples)."""
    by_split = " ".join(f"WHEN '{s}' THEN {m}" for s, m in ERRORS_PER_MILLE.items())
    column, value = WEAK_SLICE
    per_mille = (
        f"(CASE split {by_split} ELSE 100 END + CASE WHEN {column} = {quote_literal(value)} "
        f"THEN {WEAK_SLICE_EXTRA_PER_MILLE} ELSE 0 END)"
    )
    duckdb.execute(
        f"""COPY (
            SELECT example_id,
                   CASE WHEN hash(example_id || {quote_literal(salt)}) % 1000 < {per_mille}
                        THEN CASE label WHEN 'neg' THEN 'pos' ELSE 'neg' END
                        ELSE label END AS predicted_label,
                   0.5 + (hash(example_id || '#') % 500) / 1000.0 AS score
            FROM {_split_files(layout, version)})
        TO {quote_literal(str(out))} (FORMAT parquet)"""
    )


def _split_files(layout: WarehouseLayout, version: int) -> str:
    return f"read_parquet({quote_literal(str(version_path(layout, version) / '*.parquet'))})"


def slice_diagnosis(work_dir: Path, rows: int) -> dict:
    """What the slice_analysis and diagnosis assets run, without Dagster around it."""
    from evaluation.diagnosis_table import human_levels_from_config
    from evaluation.pipeline import analyse_slices, diagnose_model_version

    layout, config = bench_layout(work_dir), bench_config()
    version = newest_version(layout)
    humans = human_levels_from_config(config.evaluation.human_level_error)
    started = time.perf_counter()
    metrics, low = analyse_slices(layout, config, MODEL_VERSION, version, humans)
    analysed = time.perf_counter()
    evaluation = diagnose_model_version(layout, config, MODEL_VERSION, version, humans)
    # The diagnosis half is mostly its PNG chart (importing matplotlib, rendering): a fixed
    # cost, shown apart so the table says how much of the time grows with the rows.
    return {
        "slice_rows": len(metrics),
        "low_performing": len(low),
        "diagnosis_rows": len(evaluation.diagnosis_rows),
        "analyse_seconds": round(analysed - started, 3),
        "diagnose_seconds": round(time.perf_counter() - analysed, 3),
    }


def slice_diagnosis_reference(work_dir: Path, rows: int) -> dict:
    """Error count and rate per split, and per split and value of each slice column."""
    layout = bench_layout(work_dir)
    version = newest_version(layout)
    predictions = f"read_parquet({quote_literal(str(_predictions_file(layout, version)))})"
    sets = ", ".join(["(split)", *(f"(split, {c})" for c in SLICES)])
    found = duckdb.execute(
        f"""SELECT split, {", ".join(SLICES)}, count(*) AS n,
                   count_if(p.predicted_label <> s.label) AS errors,
                   count_if(p.predicted_label <> s.label) / count(*) AS error_rate
            FROM {_split_files(layout, version)} AS s JOIN {predictions} AS p USING (example_id)
            GROUP BY GROUPING SETS ({sets})"""
    ).fetchall()
    return {"slice_rows": len(found)}


def _predictions_file(layout: WarehouseLayout, version: int) -> Path:
    from evaluation.predictions import predictions_path

    return predictions_path(layout, MODEL_VERSION, version)


def model_comparison(work_dir: Path, rows: int) -> dict:
    """What `bayesline compare` and the model_comparison asset run, without Dagster."""
    from evaluation.comparison import ModelRef, compare_models

    layout, config = bench_layout(work_dir), bench_config()
    version = newest_version(layout)
    comparison = compare_models(
        layout, config, ModelRef(MODEL_VERSION, version), ModelRef(CHALLENGER_VERSION, version)
    )
    return {"comparison_rows": len(comparison.rows), "compared": comparison.n_compared}


def model_comparison_reference(work_dir: Path, rows: int) -> dict:
    """Discordant pairs per split, and per split and value of each slice column."""
    from evaluation.predictions import predictions_path

    layout = bench_layout(work_dir)
    version = newest_version(layout)
    a, b = (
        f"read_parquet({quote_literal(str(predictions_path(layout, m, version)))})"
        for m in (MODEL_VERSION, CHALLENGER_VERSION)
    )
    sets = ", ".join(["(split)", *(f"(split, {c})" for c in SLICES)])
    found = duckdb.execute(
        f"""SELECT split, GROUPING_ID({", ".join(SLICES)}) AS set_id, count(*) AS n,
                   count_if(pa.predicted_label <> s.label AND pb.predicted_label = s.label),
                   count_if(pb.predicted_label <> s.label AND pa.predicted_label = s.label)
            FROM {a} AS pa JOIN {b} AS pb USING (example_id)
            JOIN {_split_files(layout, version)} AS s USING (example_id)
            GROUP BY GROUPING SETS ({sets})"""
    ).fetchall()
    overall = 2 ** len(SLICES) - 1  # every slice column left out of the set
    return {
        "comparison_rows": len(found),
        "compared": sum(n for _, set_id, n, *_ in found if set_id == overall),
    }
