"""Slice metrics on Spark: the counts of evaluation/slices.py, from the lake's Parquet files.

Spark joins a model version's predictions to the split version's examples and counts examples
and errors per split and slice in one GROUPING SETS pass, with the Wilson intervals in the same
SQL (evaluation/slices.wilson_sql, which both engines read alike). The result, a few rows per
slice, becomes the table `slice_metrics_result` on a DuckDB connection, named by the same
SliceMetricsTable handle, so flagging slices and writing the evaluation tables are the ones the
DuckDB path uses. Slices are those the version
records (warehouse/slice_bins.py): the same values and ranges on either engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb

from evaluation.predictions import require_predictions
from evaluation.slices import METRICS_TABLE, SliceMetricsTable, wilson_sql
from warehouse.config import BayeslineConfig
from warehouse.layout import WarehouseLayout
from warehouse.schema import SLICE_METRIC_COLUMNS
from warehouse.slice_bins import CASTS, UNREADABLE, SliceColumn, slice_columns_of_version
from warehouse.slice_names import MISSING, OVERALL, PAIR_SEPARATOR, pair_name
from warehouse.split_names import SPLITS
from warehouse.splits import version_location
from warehouse.storage import create_rows_table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def compute_slice_metrics_on_spark(
    con: duckdb.DuckDBPyConnection,
    spark: SparkSession,
    config: BayeslineConfig,
    model_version: str,
    split_version: int,
    layout: WarehouseLayout,
) -> SliceMetricsTable:
    """Create temp table `slice_metrics_result` (SLICE_METRIC_COLUMNS) on `con`, counted by
    Spark, and return its handle: the twin of slices.compute_slice_metrics reading from the
    lake."""
    source = require_predictions(layout, model_version, split_version)
    version_dir = version_location(layout, split_version)
    columns = slice_columns_of_version(con, config, split_version, version_dir)
    split_files = [version_location(layout, split_version, f"{split}.parquet") for split in SPLITS]
    spark.read.parquet(*split_files).createOrReplaceTempView("bayesline_splits")
    spark.read.parquet(str(source)).createOrReplaceTempView("bayesline_predictions")
    counted = spark.sql(_counts_sql(config, columns)).collect()
    groups = slice_groups(config)
    rows: list[dict[str, Any]] = []  # SLICE_METRIC_COLUMNS
    for row in counted:
        slice_column, values = groups[row["gid"]]
        rows.append(
            {
                "model_version": model_version,
                "split_version": split_version,
                "split": row["split"],
                "slice_column": slice_column,
                "slice_value": PAIR_SEPARATOR.join(row[f"_s{i}"] for i in values)
                if values
                else OVERALL[1],
                **{k: row[k] for k in ("n", "errors", "error_rate", "ci_low", "ci_high")},
            }
        )
    rows.sort(key=_reading_order)
    create_rows_table(con, METRICS_TABLE, SLICE_METRIC_COLUMNS, rows)
    return SliceMetricsTable(METRICS_TABLE, model_version, split_version)


def slice_groups(config: BayeslineConfig) -> dict[int, tuple[str, tuple[int, ...]]]:
    """GROUPING_ID -> (slice column, indices of the _sN values making the slice value): the
    overall row, one per slice column, and one per pair when `slice_pairs` is on."""
    names = config.dataset.slice_columns
    grouped: list[tuple[str, tuple[int, ...]]] = [(OVERALL[0], ())]
    grouped += [(name, (i,)) for i, name in enumerate(names)]
    if config.evaluation.slice_pairs:
        grouped += [
            (pair_name(a, names[j]), (i, j))
            for i, a in enumerate(names)
            for j in range(i + 1, len(names))
        ]
    # GROUPING_ID sets a bit per value left out of the set, the first value in the highest bit.
    return {
        sum(1 << (len(names) - 1 - i) for i in range(len(names)) if i not in kept): (name, kept)
        for name, kept in grouped
    }


def _counts_sql(config: BayeslineConfig, columns: list[SliceColumn]) -> str:
    values = "".join(f", {spark_value_sql(c, 's')} AS _s{i}" for i, c in enumerate(columns))
    keys = [f"_s{i}" for i in range(len(columns))]
    sets = ", ".join(
        "(" + ", ".join(["split", *(f"_s{i}" for i in kept)]) + ")"
        for _, kept in slice_groups(config).values()
    )
    low, high = wilson_sql("errors", "n")
    # A sort-merge join, never a broadcast: Spark sizes a Parquet file by its compressed bytes,
    # and at 10M rows it chose to broadcast the predictions and ran out of driver memory.
    # Spark's grouping_id takes every grouping column; split is in every set, so its bit (the
    # highest) is always 0 and the id is the one slice_groups computes over the slices alone.
    return f"""
        WITH joined AS (
            SELECT /*+ MERGE(p) */ s.split, p.predicted_label <> s.label AS is_error {values}
            FROM bayesline_splits AS s JOIN bayesline_predictions AS p
            ON s.example_id = p.example_id
        ),
        counts AS (
            SELECT split, grouping_id({", ".join(["split", *keys])}) AS gid
                   {"".join(f", {k}" for k in keys)},
                   count(*) AS n, CAST(count_if(is_error) AS BIGINT) AS errors
            FROM joined GROUP BY GROUPING SETS ({sets})
        )
        SELECT *, CAST(errors AS DOUBLE) / n AS error_rate, {low} AS ci_low, {high} AS ci_high
        FROM counts
    """


def spark_value_sql(column: SliceColumn, alias: str) -> str:
    """Spark SQL giving an example's slice value in `column`: SliceColumn.value_sql's rule,
    spelt for Spark (backquoted names, STRING, escaped literals)."""
    raw = f"{alias}.`{column.name.replace('`', '``')}`"
    if not column.binned:
        return f"coalesce(CAST({raw} AS STRING), {spark_literal(MISSING)})"
    cast = CASTS[column.kind]
    value = f"try_cast({raw} AS {cast})"
    whens = [
        f"WHEN {raw} IS NULL THEN {spark_literal(MISSING)}",
        f"WHEN {value} IS NULL THEN {spark_literal(UNREADABLE[column.kind])}",
    ]
    bins = column.bins()
    for label, _, high, _ in bins[:-1]:
        if high is None:  # only the last range is open above
            continue
        whens.append(
            f"WHEN {value} < CAST({spark_literal(high)} AS {cast}) THEN {spark_literal(label)}"
        )
    return f"CASE {' '.join(whens)} ELSE {spark_literal(bins[-1][0])} END"


def spark_literal(value: str) -> str:
    """A Spark SQL string literal. Not DuckDB's quote doubling: Spark reads 'it''s' as two
    adjacent literals, 'its', and gives backslashes their escape meaning."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _reading_order(row: dict[str, Any]) -> tuple[int, bool, str, str]:
    # As compute_slice_metrics orders its table: by split, the overall row first, then by name.
    return (
        SPLITS.index(row["split"]),
        row["slice_column"] != OVERALL[0],
        row["slice_column"],
        row["slice_value"],
    )
