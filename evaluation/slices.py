"""Error rates per split and slice, and the dev slices where a model is clearly worse.

`compute_slice_metrics` counts examples and errors per split, overall and per value of every
slice column (per range of a number or date column, with the same edges for every split of a
version: warehouse/slice_bins.py), and every pair of slice columns when `slice_pairs` is on, in
one DuckDB pass, with 95% Wilson intervals computed in SQL.

`find_low_performing_slices` tests each dev slice against the rest of dev:

- The test is a one-sided pooled two-proportion z test of the slice's error rate against the
  error rate of the dev examples outside it. Comparing with the rest rather than with overall
  dev keeps the slice from diluting its own baseline (a big slice drags overall towards itself).
- Holm's step-down adjustment across every slice tested controls the family-wise error rate:
  with forty slices at alpha = 0.05 and no correction, two would be flagged by chance alone.
  Holm holds under any dependence between the tests, which matters here because slices
  overlap (an example is in one slice per column, and in pairs), and it is never less powerful
  than Bonferroni. The false discovery rate would be the wrong promise: every flagged slice
  is a call to action, so each should be real.
- Slices smaller than `min_slice_size` are never tested: the normal approximation behind the
  z test is poor for them, they could not remove many errors anyway, and every extra test makes
  Holm's correction stricter for the slices that matter. A slice holding all of dev (a column
  with one value) has no rest to compare with and is not tested either.
- A slice is low-performing when its adjusted p-value is below `alpha` and its error is above
  overall dev. When the human-level error on the slice is known, the slice must also be
  significantly worse than that (its Wilson lower bound above it): a slice that is hard for
  people too is not where the model has room to improve.
- Flagged slices are ranked by errors removable, gap x n: the dev errors that would go if the
  slice were brought to the overall error rate.
- A flagged pair of slice values that is not significantly worse than a flagged parent is
  shown under that parent, not as a finding of its own (evaluation/findings.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import duckdb

from evaluation.findings import in_reading_order, nest_under_parents
from evaluation.predictions import predictions_location, require_predictions, safe_model_version
from evaluation.stats import holm_adjust, two_proportion_p_value, z_for
from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_identifier, quote_literal
from warehouse.lake_tables import lake_table
from warehouse.layout import WarehouseLayout
from warehouse.schema import LOW_PERFORMING_SLICE_COLUMNS, SLICE_METRIC_COLUMNS
from warehouse.slice_bins import SliceColumn, slice_columns_of_version
from warehouse.slice_names import OVERALL, OVERALL_COLUMN_SQL, PAIR_SEPARATOR, pair_name
from warehouse.split_names import SPLITS
from warehouse.splits import version_location
from warehouse.storage import copy_to_lake, create_rows_table, writer_lock

METRICS_TABLE = "slice_metrics_result"
LOW_TABLE = "low_performing_slices_result"
HumanLevel = dict[tuple[str, str], float]


@dataclass(frozen=True)
class SliceMetricsTable:
    """The temp table (SLICE_METRIC_COLUMNS) compute_slice_metrics filled for one model
    version on one split version: the steps after it take this, so none can run before it."""

    name: str
    model_version: str
    split_version: int


@dataclass(frozen=True)
class LowPerformingSlicesTable:
    """The temp table (LOW_PERFORMING_SLICE_COLUMNS) find_low_performing_slices filled from
    `metrics`."""

    name: str
    metrics: SliceMetricsTable


class DevSliceMetrics(TypedDict):
    """The figures of one dev slice that flagging reads from the slice metrics."""

    slice_column: str
    slice_value: str
    n: int
    errors: int
    error_rate: float
    ci_low: float
    ci_high: float


def wilson_sql(errors: str, n: str, confidence: float = 0.95) -> tuple[str, str]:
    """SQL for the Wilson interval bounds of errors / n (the twin of stats.wilson_interval)."""
    z = f"CAST({z_for(confidence)!r} AS DOUBLE)"
    nd = f"CAST({n} AS DOUBLE)"
    p = f"(CAST({errors} AS DOUBLE) / {nd})"
    shrink = f"(1 + {z} * {z} / {nd})"
    centre = f"(({p} + {z} * {z} / (2 * {nd})) / {shrink})"
    half = f"(({z} / {shrink}) * sqrt({p} * (1 - {p}) / {nd} + {z} * {z} / (4 * {nd} * {nd})))"
    # As in Python, the clamps only absorb float rounding at 0 and n errors.
    return (
        f"least(greatest(0.0, {centre} - {half}), {p})",
        f"greatest(least(1.0, {centre} + {half}), {p})",
    )


def compute_slice_metrics(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    model_version: str,
    split_version: int,
    layout: WarehouseLayout | None = None,
) -> SliceMetricsTable:
    """Create temp table `slice_metrics_result` (SLICE_METRIC_COLUMNS) for one model version
    and return its handle, which the steps after it take.

    With `layout`, the predictions and split files are read straight from the lake; without
    it, `con` needs `predictions` and `splits` views (`open_reader` plus
    `evaluation.predictions.create_predictions_view`).
    """
    predictions, splits = _sources(con, model_version, split_version, layout)
    version_dir = version_location(layout, split_version) if layout is not None else None
    columns = slice_columns_of_version(con, config, split_version, version_dir)
    grouping = slice_grouping(config, "s", columns)
    low, high = wilson_sql("errors", "n")
    split_order = ", ".join(quote_literal(s) for s in SPLITS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {METRICS_TABLE} AS
        WITH joined AS (
            SELECT s.split, p.predicted_label <> s.label AS is_error {grouping.values}
            FROM {splits} AS s JOIN {predictions} AS p USING (example_id)
        ),
        counts AS (
            SELECT split, {grouping.column} AS slice_column, {grouping.value} AS slice_value,
                   count(*) AS n, CAST(count_if(is_error) AS BIGINT) AS errors
            FROM joined
            GROUP BY {grouping.sets}
        )
        SELECT CAST({quote_literal(model_version)} AS VARCHAR) AS model_version,
               CAST({int(split_version)} AS INTEGER) AS split_version,
               split, slice_column, slice_value, n, errors,
               CAST(errors AS DOUBLE) / n AS error_rate, {low} AS ci_low, {high} AS ci_high
        FROM counts
        ORDER BY list_position([{split_order}], split), slice_column <> {OVERALL_COLUMN_SQL},
                 slice_column, slice_value
        """
    )
    return SliceMetricsTable(METRICS_TABLE, model_version, split_version)


@dataclass(frozen=True)
class SliceGrouping:
    """SQL that counts every slice (and the overall row) per split in one GROUP BY."""

    values: str  # ", <slice value> AS _s0, ...": select it from the table holding the slices
    sets: str  # "GROUPING SETS ((split), (split, _s0), ...)"
    column: str  # CASE giving slice_column for a grouped row
    value: str  # CASE giving slice_value for a grouped row


def slice_grouping(
    config: BayeslineConfig, alias: str, slice_columns: list[SliceColumn]
) -> SliceGrouping:
    """The grouping for a version's slice columns (`slice_columns_of_version`), read from
    table alias `alias`.

    Slice values are read once per example, as _s0, _s1...: a value, or a range for a binned
    column; a missing value is a slice too. One GROUPING SETS pass counts every slice at once
    and GROUPING_ID tells which set a row belongs to (an unnest of one row per slice and
    example was three times slower).
    """
    columns = config.dataset.slice_columns
    values = "".join(f", {c.value_sql(alias)} AS _s{i}" for i, c in enumerate(slice_columns))
    groups = _slice_groups(config)
    grouped = ", ".join(f"_s{i}" for i in range(len(columns)))
    group_id = f"GROUPING_ID({grouped})" if columns else "0"
    sets = ", ".join("(" + ", ".join(["split", *(f"_s{i}" for i in g[2])]) + ")" for g in groups)
    names = " ".join(f"WHEN {_group_id(g[2], len(columns))} THEN {g[0]}" for g in groups)
    labels = " ".join(f"WHEN {_group_id(g[2], len(columns))} THEN {g[1]}" for g in groups)
    return SliceGrouping(
        values,
        f"GROUPING SETS ({sets})",
        f"CASE {group_id} {names} END",
        f"CASE {group_id} {labels} END",
    )


def _slice_groups(config: BayeslineConfig) -> list[tuple[str, str, tuple[int, ...]]]:
    """(slice column SQL, slice value SQL, indices of the _sN values grouped) per slice kind."""
    columns = config.dataset.slice_columns
    groups: list[tuple[str, str, tuple[int, ...]]] = [
        (quote_literal(OVERALL[0]), quote_literal(OVERALL[1]), ())
    ]
    groups += [(quote_literal(c), f"_s{i}", (i,)) for i, c in enumerate(columns)]
    if config.evaluation.slice_pairs:
        sep = quote_literal(PAIR_SEPARATOR)
        for i, a in enumerate(columns):
            for j in range(i + 1, len(columns)):
                name = quote_literal(pair_name(a, columns[j]))
                groups.append((name, f"_s{i} || {sep} || _s{j}", (i, j)))
    return groups


def _group_id(grouped: tuple[int, ...], n_columns: int) -> int:
    """GROUPING_ID(_s0, ..., _sN-1) of a set grouping `grouped`: a 1 bit per value left out,
    the first value in the highest bit."""
    return sum(1 << (n_columns - 1 - i) for i in range(n_columns) if i not in grouped)


def _sources(
    con: duckdb.DuckDBPyConnection,
    model_version: str,
    split_version: int,
    layout: WarehouseLayout | None,
) -> tuple[str, str]:
    """SQL for this model version's predictions and this split version's examples."""
    if layout is not None:
        require_predictions(layout, model_version, split_version)
        path = predictions_location(layout, model_version, split_version)
        splits_glob = version_location(layout, split_version, "*.parquet")
        return (
            f"read_parquet({quote_literal(path)})",
            f"read_parquet({quote_literal(splits_glob)})",
        )
    views = {row[0] for row in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    missing = {"predictions", "splits"} - views
    if missing:
        raise ValueError(
            f"the connection has no {' or '.join(sorted(missing))} view: pass `layout`, or "
            "create the views (open_reader and create_predictions_view)"
        )
    return (
        "(SELECT example_id, predicted_label FROM predictions WHERE model_version = "
        f"{quote_literal(model_version)} AND split_version = {int(split_version)})",
        f"(SELECT * FROM splits WHERE version = {int(split_version)})",
    )


def find_low_performing_slices(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    metrics: SliceMetricsTable,
    human_level: HumanLevel | None = None,
) -> LowPerformingSlicesTable:
    """Create temp table `low_performing_slices_result` (LOW_PERFORMING_SLICE_COLUMNS) from
    the slice metrics `metrics` names, on the connection compute_slice_metrics ran on."""
    dev = _dev_metrics(con, metrics)
    overall = dev.pop(OVERALL, None)
    flagged = _flagged(config, dev, overall, human_level or {}) if overall else []
    rows = in_reading_order(nest_under_parents(flagged, config.evaluation.alpha))
    for row in rows:
        row.update(model_version=metrics.model_version, split_version=metrics.split_version)
    create_rows_table(con, LOW_TABLE, LOW_PERFORMING_SLICE_COLUMNS, rows)
    return LowPerformingSlicesTable(LOW_TABLE, metrics)


def _dev_metrics(
    con: duckdb.DuckDBPyConnection, metrics: SliceMetricsTable
) -> dict[tuple[str, str], DevSliceMetrics]:
    rows = con.execute(
        f"SELECT slice_column, slice_value, n, errors, error_rate, ci_low, ci_high "
        f"FROM {metrics.name} WHERE split = 'dev' AND model_version = ? AND split_version = ?",
        [metrics.model_version, metrics.split_version],
    ).fetchall()
    return {
        (column, value): DevSliceMetrics(
            slice_column=column,
            slice_value=value,
            n=n,
            errors=errors,
            error_rate=error_rate,
            ci_low=ci_low,
            ci_high=ci_high,
        )
        for column, value, n, errors, error_rate, ci_low, ci_high in rows
    }


def _flagged(
    config: BayeslineConfig,
    dev: dict[tuple[str, str], DevSliceMetrics],
    overall: DevSliceMetrics,
    human_level: HumanLevel,
) -> list[dict[str, object]]:
    """The tested dev slices that pass every rule in the module docstring, as rows of
    LOW_PERFORMING_SLICE_COLUMNS without their rank, parent and versions."""
    n0, e0, rate0 = overall["n"], overall["errors"], overall["error_rate"]
    tested = [m for m in dev.values() if m["n"] >= config.evaluation.min_slice_size and m["n"] < n0]
    p_values = [
        two_proportion_p_value(e0 - m["errors"], n0 - m["n"], m["errors"], m["n"]) for m in tested
    ]
    flagged: list[dict[str, object]] = []
    for m, p, p_adj in zip(tested, p_values, holm_adjust(p_values), strict=True):
        gap = m["error_rate"] - rate0
        human = human_level.get((m["slice_column"], m["slice_value"]))
        if p_adj >= config.evaluation.alpha or gap <= 0:
            continue
        if human is not None and not m["ci_low"] > human:
            continue
        flagged.append(
            {
                **m,
                "overall_error_rate": rate0,
                "gap": gap,
                "errors_removable": gap * m["n"],
                "p_value": p,
                "p_adjusted": p_adj,
                "human_level_error": human,
            }
        )
    return flagged


def write_evaluation_tables(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    low_performing: LowPerformingSlicesTable,
) -> dict[str, Path]:
    """Write the slice metrics and the low-performing slices `low_performing` was flagged
    from to lake/evaluation/<table>/<model>__v<NNNN>.parquet, each atomically replacing an
    older copy for the same pair; returns the lake names written."""
    metrics = low_performing.metrics
    model_version, split_version = metrics.model_version, metrics.split_version
    name = f"{safe_model_version(model_version)}__v{split_version:04d}.parquet"
    tables = {
        "slice_metrics": (metrics.name, SLICE_METRIC_COLUMNS),
        "low_performing_slices": (low_performing.name, LOW_PERFORMING_SLICE_COLUMNS),
    }
    written = {}
    with writer_lock(layout):
        for table, (source, columns) in tables.items():
            select = ", ".join(quote_identifier(c) for c in columns)
            query = (
                f"SELECT {select} FROM {source} WHERE model_version = "
                f"{quote_literal(model_version)} AND split_version = {int(split_version)}"
            )
            written[table] = layout.table_dir(lake_table(table)) / name
            copy_to_lake(con, layout, query, written[table])
    return written
