"""The warehouse stages: ingest, quality gate and publish, each next to its references.

References do the same work the plain way: bare DuckDB statements, and for publishing also the
way most teams split today (pandas + scikit-learn `train_test_split`, one Parquet file per split).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.measure import StageSpec
from warehouse.config import BayeslineConfig, parse_config
from warehouse.hashing import split_bucket_sql
from warehouse.layout import WarehouseLayout

SLICES = [f"slice_{i}" for i in range(1, 6)]
SOURCES = (("web", "training"), ("app", "target"))
BENCH_CONFIG: dict[str, Any] = {
    "dataset": {
        "name": "bench",
        "id_column": "id",
        "label_column": "label",
        "labels": ["neg", "pos"],
        "text_columns": ["text"],
        "group_column": "user_id",
        "slice_columns": SLICES,
    },
    "sources": {"target": ["app"]},
    "splits": {
        "salt": "bench",
        "target": {"train": 0.4, "dev": 0.3, "test": 0.3},
        "training": {"train": 0.9, "train_dev": 0.1},
    },
}
#: The pandas way is given most of the machine; past that it fails instead of swapping.
PANDAS_MEMORY_LIMIT_GIB = 20

SPECS = [
    StageSpec("ingest_reference", "benchmarks.bench_pipeline:ingest_reference"),
    StageSpec("ingest", "benchmarks.bench_pipeline:ingest", reference="ingest_reference"),
    StageSpec("quality_gate_reference", "benchmarks.bench_pipeline:quality_gate_reference"),
    StageSpec("quality_gate", "benchmarks.bench_pipeline:quality_gate", "quality_gate_reference"),
    StageSpec("publish_reference", "benchmarks.bench_pipeline:publish_reference"),
    # Right after its reference, before the pandas way fills memory and evicts the examples
    # from the page cache: the two DuckDB ways then read them alike.
    StageSpec("publish", "benchmarks.bench_pipeline:publish", reference="publish_reference"),
    StageSpec(
        "publish_pandas_sklearn",
        "benchmarks.bench_pipeline:publish_pandas_sklearn",
        memory_limit_gib=PANDAS_MEMORY_LIMIT_GIB,
    ),
]


def bench_layout(work_dir: Path) -> WarehouseLayout:
    """The warehouse every benchmark stage of one run shares."""
    return WarehouseLayout(work_dir / "warehouse")


def bench_config() -> BayeslineConfig:
    return parse_config(BENCH_CONFIG)


def prepare(work_dir: Path, rows: int) -> None:
    """Synthetic landing files: two thirds training rows (web), a third target rows (app)."""
    landing = bench_layout(work_dir).ensure().landing
    bounds = {"web": (0, rows - rows // 3), "app": (rows - rows // 3, rows)}
    for source, _distribution in SOURCES:
        start, stop = bounds[source]
        (landing / source).mkdir(parents=True, exist_ok=True)
        write_landing_csv(landing / source / "part.csv", start, stop)


def write_landing_csv(path: Path, start: int, stop: int, relabelled: str = "false") -> None:
    """Rows `start` to `stop` of the synthetic export as a CSV file; rows matching the SQL
    condition `relabelled` (on `i`) carry the other label, as if corrected upstream."""
    slices = ", ".join(f"'v' || (i * {k + 3} % {k + 4}) AS {name}" for k, name in enumerate(SLICES))
    duckdb.execute(
        f"""COPY (SELECT 'id' || i AS id, 'u' || (i // 4) AS user_id,
                   CASE WHEN (i % 3 = 0) <> ({relabelled}) THEN 'neg' ELSE 'pos' END AS label,
                   'review number ' || i || ' says ' || (i % 97) AS text, {slices},
                   i % 1000 AS f1, (i * 7) % 113 AS f2, i / 3.0 AS f3
            FROM range({start}, {stop}) AS t(i))
            TO '{path}' (HEADER)"""
    )


def ingest(work_dir: Path, rows: int) -> dict:
    from warehouse.ingest import ingest_landing_files

    summary = ingest_landing_files(bench_layout(work_dir), bench_config())
    return {"rows_loaded": summary.rows_loaded}


def ingest_reference(work_dir: Path, rows: int) -> None:
    layout = bench_layout(work_dir)
    out = work_dir / "reference"
    out.mkdir(exist_ok=True)
    for source, _distribution in SOURCES:
        duckdb.execute(
            f"COPY (SELECT * FROM read_csv('{layout.landing / source / '*.csv'}')) "
            f"TO '{out / source}.parquet'"
        )


def quality_gate(work_dir: Path, rows: int) -> dict:
    from quality.gate import gate_passes, run_quality_checks
    from warehouse.catalog import open_reader

    layout, config = bench_layout(work_dir), bench_config()
    with open_reader(layout, config) as con:
        outcomes = run_quality_checks(con, config)
    if not gate_passes(outcomes):
        # The synthetic data is clean: a failed gate is a broken stage, never a fast one.
        failed = "; ".join(f"{o.name}: {o.description}" for o in outcomes if not o.passed)
        raise RuntimeError(f"the quality gate failed on clean data: {failed}")
    return {"gate_passed": True, "checks": len(outcomes)}


def quality_gate_reference(work_dir: Path, rows: int) -> dict:
    """The gate's checks as the aggregates a person would write by hand in DuckDB.

    Like for like: the same rules counted the same way (each rule per file, ids and near-duplicate
    keys grouped, per-file reject rates, label mix per file), without Great Expectations.
    """
    layout = bench_layout(work_dir)
    examples = f"read_parquet('{layout.examples_dir / '*.parquet'}')"
    files = f"read_parquet('{layout.ingested_files_dir / '*.parquet'}')"
    max_reject_rate = bench_config().quality.max_batch_reject_rate
    required = ["example_id", "source", "distribution", "group_key", "label", "content_hash"]
    blank = r"^[\s\v\x{1c}-\x{1f}\x{85}\p{Z}]*$"  # what Python's re calls whitespace
    per_rule = ", ".join(
        f"count_if({c} IS NULL), count_if(regexp_matches({c}, '{blank}'))"
        for c in [*required, "text"]
    )
    queries = {
        "schema": f"DESCRIBE SELECT * FROM {examples}",
        "required": f"""SELECT file_id, count(*), {per_rule},
                   count_if(distribution NOT IN ('training', 'target'))
            FROM {examples} GROUP BY file_id""",
        "labels": f"""SELECT file_id, count_if(label NOT IN ('neg', 'pos'))
            FROM {examples} GROUP BY file_id""",
        "ids": f"""SELECT count_if(n > 1) FROM (SELECT count(*) AS n FROM {examples}
            WHERE example_id IS NOT NULL GROUP BY example_id)""",
        "cross_source": f"""SELECT count(*) FROM (SELECT dedup_key FROM {examples}
            WHERE dedup_key IS NOT NULL GROUP BY dedup_key HAVING min(source) <> max(source))""",
        "files": f"""SELECT file_id FROM {files} WHERE status <> 'loaded' OR rows_loaded < 1
            OR rows_rejected / nullif(rows_read, 0) > {max_reject_rate}""",
        "target": f"SELECT count(*) FROM {examples} WHERE distribution = 'target'",
        "drift": f"SELECT distribution, file_id, label, count(*) FROM {examples} GROUP BY ALL",
    }
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    results = {name: con.execute(sql).fetchall() for name, sql in queries.items()}
    problems = sum(sum(row[2:]) for row in results["required"])
    problems += sum(row[1] for row in results["labels"]) + len(results["files"])
    problems += results["ids"][0][0] + results["cross_source"][0][0]
    return {"problems": problems, "drift_cells": len(results["drift"])}


def publish(work_dir: Path, rows: int) -> dict:
    from warehouse.splits import publish_split_version

    version = publish_split_version(bench_layout(work_dir), bench_config())
    return {"version": version.version}


def publish_reference(work_dir: Path, rows: int) -> None:
    """Hash each group into a split and write the splits partitioned: one DuckDB statement."""
    bucket = split_bucket_sql("'bench'", "group_key")
    examples = bench_layout(work_dir).examples_dir / "*.parquet"
    duckdb.execute(
        f"""COPY (SELECT *, CASE WHEN distribution = 'training' THEN
                    CASE WHEN {bucket} < 9000 THEN 'train' ELSE 'train_dev' END
                 WHEN {bucket} < 4000 THEN 'train' WHEN {bucket} < 7000 THEN 'dev'
                 ELSE 'test' END AS split
            FROM read_parquet('{examples}'))
            TO '{work_dir / "reference_splits"}'
            (FORMAT parquet, PARTITION_BY (split), OVERWRITE)"""
    )


def publish_pandas_sklearn(work_dir: Path, rows: int) -> dict:
    """The common way: load everything, stratified train_test_split twice, one file per split."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    examples = pd.read_parquet(bench_layout(work_dir).examples_dir)
    out = work_dir / "pandas_splits"
    out.mkdir(exist_ok=True)
    training = examples[examples["distribution"] == "training"]
    target = examples[examples["distribution"] == "target"]
    train_a, train_dev = train_test_split(
        training, test_size=0.1, stratify=training["label"], random_state=0
    )
    train_b, rest = train_test_split(
        target, test_size=0.6, stratify=target["label"], random_state=0
    )
    dev, test = train_test_split(rest, test_size=0.5, stratify=rest["label"], random_state=0)
    splits = {"train": pd.concat([train_a, train_b]), "train_dev": train_dev, "dev": dev}
    splits["test"] = test
    for name, frame in splits.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
    return {"split_rows": json.dumps({name: len(frame) for name, frame in splits.items()})}
