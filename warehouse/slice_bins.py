"""What the slices of a slice column are: text by value, numbers and dates by ranges.

A float column sliced by its values gives one slice per example: noise to read, and millions of
rows at scale. So:

- A column's kind comes from its values in a split version (landed files are read as text):
  every present value reads as a finite number: `number`; as a date: `date`; as a timestamp
  with a time of day: `timestamp`; otherwise `text`.
- A number, date or timestamp column with more distinct values than `[slices] quantile_bins`
  is cut into ranges. Quantile edges by default: the inner cuts are quantiles of the column
  over the version's **dev** examples (the slices that are tested), at most `quantile_bins`
  bins and never more than dev can fill with `min_slice_size` examples each; `quantile_disc`
  keeps every edge a value of the data, and equal edges merge (a column that is half zeros
  gets fewer bins). The outer edges are the version's minimum and maximum: `[min, c1)`, ...,
  `[ck, max]`, the last closed.
- The edges are computed once, when the version is published, and recorded in its
  `_meta/slice_bins.parquet` (the `slice_bins` view): every split and every model of a
  version is sliced by the same edges, and a version's edges never change. A version
  published before this existed gets them from the same function on first use.
- Edges the user gives (`[slices.edges]`) are cut points and win over the record: `(-inf,
  e1)`, `[e1, e2)`, ..., `[ek, inf)`, so every value has a bin. Columns in `[slices] by_value`
  are sliced by value whatever they hold.
- A column sliced by value with more distinct values than `[slices] max_distinct_values` is
  refused with what to do: binning, mapping or dropping it. Never exploded silently.
- A missing value is its own slice, `(missing)`; a value that is not a number (or date) in a
  column given number (or date) edges is `(not a number)` (`(not a date)`): never dropped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

import duckdb

from deployment.errors import InvariantError
from warehouse.config import BayeslineConfig, ConfigError, EdgeKind, format_edge
from warehouse.hashing import quote_identifier, quote_literal
from warehouse.schema import SLICE_BIN_COLUMNS
from warehouse.slice_names import MISSING, OVERALL, PAIR_SEPARATOR
from warehouse.sql_results import fetch_count, fetch_row
from warehouse.storage import write_local_records

RECORD_FILE = "slice_bins.parquet"
#: What a slice column holds, as its values in a split version read.
SliceKind = Literal[EdgeKind, "text"]
#: Where a binned column's edges come from; None: sliced by value.
EdgesFrom = Literal["quantiles", "config"]
#: (slice value, lower edge, upper edge, upper edge included) of one range of a binned column.
SliceBin = tuple[str, str | None, str | None, bool]
#: A column's first-pass counts: present values, numbers, ISO-date-like values, approximate
#: distinct values, present values in dev.
FirstPassCounts = tuple[int, int, int, int, int]
#: How a value of each kind is read in SQL, and what a value that does not read is called.
CASTS = {"number": "DOUBLE", "date": "DATE", "timestamp": "TIMESTAMP"}
UNREADABLE = {"number": "(not a number)", "date": "(not a date)", "timestamp": "(not a date)"}


class SliceColumnError(ConfigError):
    """A slice column cannot be sliced as configured; the message says what to change."""


@dataclass(frozen=True)
class SliceColumn:
    """One slice column of one split version, and how its examples fall into slices."""

    name: str
    kind: SliceKind
    n_distinct: int  # distinct present values in the version
    #: Quantile bins: min, inner cuts, max. User bins: the cut points. Empty: by value.
    edges: tuple[str, ...] = ()
    open_ends: bool = False  # True for the user's cut points: the outer bins are unbounded
    edges_from: EdgesFrom | None = None

    @property
    def binned(self) -> bool:
        return bool(self.edges)

    def bins(self) -> list[SliceBin]:
        """(slice value, lower edge, upper edge, upper edge included) of every range."""
        bounds: list[str | None] = [None, *self.edges, None] if self.open_ends else [*self.edges]
        ranges: list[SliceBin] = []
        for i, (low, high) in enumerate(itertools.pairwise(bounds)):
            closed = not self.open_ends and i == len(bounds) - 2
            shown_low = "(-inf" if low is None else f"[{low}"
            shown_high = "inf)" if high is None else f"{high}{']' if closed else ')'}"
            ranges.append((f"{shown_low}, {shown_high}", low, high, closed))
        return ranges

    def value_sql(self, alias: str | None = None) -> str:
        """SQL giving an example's slice value in this column (read from table `alias`)."""
        raw = (
            quote_identifier(self.name)
            if alias is None
            else f"{alias}.{quote_identifier(self.name)}"
        )
        if not self.binned:
            return f"coalesce(CAST({raw} AS VARCHAR), {quote_literal(MISSING)})"
        value = f"TRY_CAST({raw} AS {CASTS[self.kind]})"
        whens = [
            f"WHEN {raw} IS NULL THEN {quote_literal(MISSING)}",
            f"WHEN {value} IS NULL THEN {quote_literal(UNREADABLE[self.kind])}",
        ]
        bins = self.bins()
        for label, _, high, _ in bins[:-1]:
            whens.append(f"WHEN {value} < {self._literal(high)} THEN {quote_literal(label)}")
        return f"CASE {' '.join(whens)} ELSE {quote_literal(bins[-1][0])} END"

    def _literal(self, edge: str | None) -> str:
        # Only the last bin has no upper edge, and it takes the ELSE of value_sql's CASE.
        if edge is None:
            raise InvariantError(f"slice column {self.name}: an open edge has no SQL literal")
        return f"CAST({quote_literal(edge)} AS {CASTS[self.kind]})"


def is_range(slice_value: str) -> bool:
    """A binned slice value such as '[45, 65)' (a value of a column sliced by value is not)."""
    return slice_value[:1] in "[(" and slice_value[-1:] in ")]" and ", " in slice_value


def slice_label(slice_column: str, slice_value: str) -> str:
    """How a slice reads: 'plan = pro', 'customer_age in [45, 65)', and for a pair
    'customer_age in [45, 65) x plan = pro' (or 'device x region = scanner-b x north')."""
    columns, values = slice_column.split(PAIR_SEPARATOR), slice_value.split(PAIR_SEPARATOR)
    if len(columns) != len(values) or not any(is_range(v) for v in values):
        return f"{slice_column} = {slice_value}"
    return PAIR_SEPARATOR.join(
        f"{c} {'in' if is_range(v) else '='} {v}" for c, v in zip(columns, values, strict=True)
    )


def write_slice_bins(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    examples_sql: str,
    version: int,
    meta_dir: Path,
) -> Path:
    """Record the version's slice columns (kind, distinct values, quantile bins) in
    `meta_dir/slice_bins.parquet`; `examples_sql` reads the version's examples."""
    measured = measure_slice_columns(con, config, examples_sql, config.dataset.slice_columns)
    return write_local_records(
        SLICE_BIN_COLUMNS, _record_rows(measured, version), meta_dir / RECORD_FILE
    )


def slice_columns_of_version(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    version: int,
    version_dir: Path | str | None = None,
) -> list[SliceColumn]:
    """The dataset's slice columns as a version is sliced: its record, then the config.

    With `version_dir` (a path, or an s3:// URL whose filesystem `con` has registered), the
    version's files are read; without it, `con` needs the `splits`
    view (and the `slice_bins` view, which the catalog has). Raises SliceColumnError for a
    column with too many values.
    """
    if version_dir is not None:
        record = quote_literal(f"{version_dir}/_meta/{RECORD_FILE}")
        # DuckDB lists it, through the filesystem the location needs: versions published
        # before slice bins were recorded have none.
        recorded = fetch_count(con, f"SELECT count(*) FROM glob({record})")
        record_sql = f"read_parquet({record})" if recorded else None
        examples_sql = f"read_parquet({quote_literal(f'{version_dir}/*.parquet')})"
    else:
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        record_sql = (
            f"(SELECT * FROM slice_bins WHERE split_version = {int(version)})"
            if "slice_bins" in views
            else None  # a connection of the caller's own views: measured from `splits`
        )
        examples_sql = f"(SELECT * FROM splits WHERE version = {int(version)})"
    columns = _read_record(con, record_sql) if record_sql else {}
    unrecorded = [c for c in config.dataset.slice_columns if c not in columns]
    if unrecorded:
        columns.update(measure_slice_columns(con, config, examples_sql, unrecorded))
    chosen = [_as_configured(columns[c], config) for c in config.dataset.slice_columns]
    for column in chosen:
        _refuse_too_many_values(column, config, version)
    return chosen


def measure_slice_columns(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    examples_sql: str,
    names: tuple[str, ...] | list[str],
) -> dict[str, SliceColumn]:
    """Each column's kind and distinct values, then quantile edges for the numbers and dates
    with more distinct values than `quantile_bins`.

    The first pass measures every column cheaply; a second one casts only the columns whose
    every value looks like an ISO date (a failing cast to TIMESTAMP costs 15 times a count)
    and counts distinct values exactly only where a limit could turn on the count: far above
    every limit, HyperLogLog's estimate (within a few percent) says as much at a third of the
    cost of an exact count over a continuous column.
    """
    if not names:
        return {}
    parts = []
    for name in names:
        c = quote_identifier(name)
        parts += [
            f"count({c})",
            f"count_if(isfinite(TRY_CAST({c} AS DOUBLE)))",
            f"count_if({c} LIKE '____-__-__%')",
            f"approx_count_distinct({c})",
            f"count_if(split = 'dev' AND {c} IS NOT NULL)",
        ]
    row = fetch_row(con, f"SELECT {', '.join(parts)} FROM {examples_sql}")
    counts: dict[str, FirstPassCounts] = {
        name: (row[5 * i], row[5 * i + 1], row[5 * i + 2], row[5 * i + 3], row[5 * i + 4])
        for i, name in enumerate(names)
    }
    near = _counted_exactly_up_to(config)
    date_like = [n for n, (present, _, like, _, _) in counts.items() if present and like == present]
    exact = [n for n, (_, _, _, approx, _) in counts.items() if approx <= near]
    stamps, distinct = _second_pass(con, examples_sql, date_like, exact)
    measured: dict[str, SliceColumn] = {}
    to_bin: list[tuple[SliceColumn, int]] = []
    for name, (present, numbers, _, approx, in_dev) in counts.items():
        kind = _kind(present, numbers, *stamps.get(name, (0, 0)))
        column = SliceColumn(name, kind, distinct.get(name, approx))
        measured[name] = column
        if column.kind != "text" and column.n_distinct > config.slices.quantile_bins:
            to_bin.append((column, in_dev))
    if to_bin:
        binned = _with_quantile_edges(con, config, examples_sql, to_bin)
        measured.update((column.name, column) for column in binned)
    return measured


def _second_pass(
    con: duckdb.DuckDBPyConnection, examples_sql: str, date_like: list[str], exact: list[str]
) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    """{column: (values read as timestamps, of which with a time of day)} for `date_like`,
    and {column: exact distinct values} for `exact`."""
    parts = []
    for name in date_like:
        c = quote_identifier(name)
        stamp = f"TRY_CAST({c} AS TIMESTAMP)"
        parts += [
            f"count({stamp})",
            f"count_if({stamp} <> CAST(TRY_CAST({c} AS DATE) AS TIMESTAMP))",
        ]
    parts += [f"count(DISTINCT {quote_identifier(name)})" for name in exact]
    if not parts:
        return {}, {}
    row = fetch_row(con, f"SELECT {', '.join(parts)} FROM {examples_sql}")
    stamps = {name: (row[2 * i], row[2 * i + 1]) for i, name in enumerate(date_like)}
    distinct = dict(zip(exact, row[2 * len(date_like) :], strict=True))
    return stamps, distinct


def _counted_exactly_up_to(config: BayeslineConfig) -> int:
    """Distinct values are counted exactly up to here, estimated beyond (far above a limit)."""
    return 2 * max(config.slices.max_distinct_values, config.slices.quantile_bins)


def _kind(present: int, numbers: int, stamps: int, with_time: int) -> SliceKind:
    if present and numbers == present:
        return "number"
    if present and stamps == present:
        return "timestamp" if with_time else "date"
    return "text"


def _with_quantile_edges(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    examples_sql: str,
    columns: list[tuple[SliceColumn, int]],
) -> list[SliceColumn]:
    """Quantile cuts over dev (all splits if dev has no value), between the version's ends,
    for every (column, its values in dev) in one pass."""
    parts, bins_of = [], []
    for column, in_dev in columns:
        bins = min(config.slices.quantile_bins, max(1, in_dev // config.evaluation.min_slice_size))
        value = f"TRY_CAST({quote_identifier(column.name)} AS {CASTS[column.kind]})"
        dev = "split = 'dev'" if in_dev else "true"
        probabilities = [i / bins for i in range(1, bins)] or [0.5]
        parts += [
            f"min({value})",
            f"max({value})",
            f"quantile_disc({value}, {probabilities}) FILTER (WHERE {dev})",
        ]
        bins_of.append(bins)
    row = fetch_row(con, f"SELECT {', '.join(parts)} FROM {examples_sql}")
    binned = []
    for i, ((column, _), bins) in enumerate(zip(columns, bins_of, strict=True)):
        low, high, cuts = row[3 * i : 3 * i + 3]
        inner = sorted({cut for cut in (cuts if bins > 1 else []) if low < cut <= high})
        # A top cut equal to the maximum leaves a last bin of that one value, [max, max]: a
        # capped column's pile at its cap is a slice worth seeing.
        edges = tuple(format_edge(column.kind, e) for e in [low, *inner, high])
        binned.append(replace(column, edges=edges, edges_from="quantiles"))
    return binned


def _as_configured(column: SliceColumn, config: BayeslineConfig) -> SliceColumn:
    user_edges = config.slices.edges.get(column.name)
    if user_edges is not None:
        return replace(
            column,
            kind=user_edges.kind,
            edges=user_edges.values,
            open_ends=True,
            edges_from="config",
        )
    if column.name in config.slices.by_value:
        return replace(column, edges=(), open_ends=False, edges_from=None)
    return column


def _refuse_too_many_values(column: SliceColumn, config: BayeslineConfig, version: int) -> None:
    limit = config.slices.max_distinct_values
    if column.binned or column.n_distinct <= limit:
        return
    binning = (
        "bin it (remove it from [slices] by_value)"
        if column.kind != "text"
        else "bin it (numbers and dates are binned; give [slices.edges] if it holds them)"
    )
    fix = (
        f"{binning}, map it to fewer values before landing, or drop it from [dataset] slice_columns"
    )
    about = "about " if column.n_distinct > _counted_exactly_up_to(config) else ""
    raise SliceColumnError(
        f"slice column {column.name} has {about}{column.n_distinct:,} distinct values in split "
        f"version {version}, more than [slices] max_distinct_values = {limit} (one slice "
        f"each): {fix}."
    )


class SliceBinRow(TypedDict):
    """A row of `slice_bins.parquet` (SLICE_BIN_COLUMNS): one bin of a binned column, or a
    column sliced by value (no bin, and upper_closed left NULL)."""

    split_version: int
    slice_column: str
    kind: SliceKind
    n_distinct: int
    edges_from: EdgesFrom | None
    bin: int | None
    slice_value: str | None
    lower: str | None
    upper: str | None
    upper_closed: NotRequired[bool]


def _record_rows(columns: dict[str, SliceColumn], version: int) -> list[SliceBinRow]:
    rows: list[SliceBinRow] = []
    for column in columns.values():
        if not column.binned:
            rows.append(_bin_row(column, version, None, None, None, None))
            continue
        for i, (label, low, high, closed) in enumerate(column.bins()):
            rows.append(_bin_row(column, version, i, label, low, high) | {"upper_closed": closed})
    return rows


def _bin_row(
    column: SliceColumn,
    version: int,
    index: int | None,
    label: str | None,
    low: str | None,
    high: str | None,
) -> SliceBinRow:
    return {
        "split_version": version,
        "slice_column": column.name,
        "kind": column.kind,
        "n_distinct": column.n_distinct,
        "edges_from": column.edges_from,
        "bin": index,
        "slice_value": label,
        "lower": low,
        "upper": high,
    }


def _read_record(con: duckdb.DuckDBPyConnection, record_sql: str) -> dict[str, SliceColumn]:
    rows = con.execute(
        f"SELECT slice_column, kind, n_distinct, lower, upper FROM {record_sql} "
        "ORDER BY slice_column, bin NULLS FIRST"
    ).fetchall()
    by_column: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_column.setdefault(row[0], []).append(row)
    columns: dict[str, SliceColumn] = {}
    for name, bins in by_column.items():
        _, kind, distinct, _, _ = bins[0]
        edges = (*(b[3] for b in bins), bins[-1][4]) if bins[0][3] is not None else ()
        columns[name] = SliceColumn(
            name, kind, distinct, edges, edges_from="quantiles" if edges else None
        )
    return columns


def slice_condition(
    slice_columns: list[SliceColumn], column: str, value: str
) -> tuple[str, list[str]]:
    """SQL selecting one slice, read as slice_metrics reads it (a value, or a range of a
    binned column, with the version's edges); pairs read 'a x b' = 'va x vb'."""
    if (column, value) == OVERALL:
        return "", []
    columns, values = column.split(PAIR_SEPARATOR), value.split(PAIR_SEPARATOR)
    by_name = {c.name: c for c in slice_columns}
    if len(columns) != len(values) or any(c not in by_name for c in columns):
        raise ValueError(f"cannot read slice {column} = {value}: not a slice of this version")
    tests = " AND ".join(f"{by_name[c].value_sql()} = ?" for c in columns)
    return f"AND {tests}", values
