"""How each slice column's mix differs between training and target data.

Training data are the examples of the training distribution in train and train-dev (the data
the dev - train-dev gap starts from); target data are dev's. Each slice column's values are the
version's own (warehouse/slice_bins.py: ranges for binned numbers and dates, `(missing)`), so
a slice here is the slice the diagnosis and the labeling queue name.

Per column: the Jensen-Shannon distance of the two shares (base 2: 0 the same mix, 1 no value
in common), a chi-square test of the 2 x k counts, Holm-adjusted across the columns. A value
is *under-covered* when its column's mix differs (Holm, 5%), training holds less than half the
target's share of it, and dev has at least `min_slice_size` examples of it: a slice the product
meets that training cannot teach well, and the first to collect more of. Counted over every
example of the version, in DuckDB: no sample.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

from evaluation.stats import holm_adjust
from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_literal
from warehouse.layout import WarehouseLayout
from warehouse.slice_bins import SliceColumn
from warehouse.splits import version_location

#: (slice value, training count, target count) of one column.
ValueCount = tuple[str, int, int]
#: (JS distance, chi-square, degrees of freedom, p); Nones where there is nothing to compare.
ColumnTests = tuple[float | None, float | None, int | None, float | None]

SIGNIFICANCE = 0.05
UNDER_COVERED_RATIO = 0.5  # training's share below half the target's


def slice_shift_rows(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    config: BayeslineConfig,
    split_version: int,
    columns: list[SliceColumn],
) -> list[dict[str, Any]]:
    """SLICE_SHIFT_COLUMNS rows (without computed_at) for every slice column."""
    rows: list[list[dict[str, Any]]] = []
    tests: list[float | None] = []
    for column in columns:
        counts = _value_counts(con, layout, split_version, column)
        if not counts:
            continue
        rows.append(_column_rows(split_version, column.name, counts))
        tests.append(rows[-1][0]["p_value"])
    # A column with nothing to test (one value) is no member of the family Holm adjusts over.
    tested = [p for p in tests if p is not None]
    adjusted = iter(holm_adjust(tested))
    flat = []
    for column_rows, p in zip(rows, tests, strict=True):
        p_holm = None if p is None else next(adjusted)
        shifted = p_holm is not None and p_holm < SIGNIFICANCE
        for row in column_rows:
            row.update(p_holm=p_holm, column_shifted=shifted)
            row["under_covered"] = shifted and _short_of(row, config.evaluation.min_slice_size)
            flat.append(row)
    return flat


def under_covered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The under-covered target values, the most target examples first."""
    found = [r for r in rows if r["under_covered"]]
    return sorted(found, key=lambda r: (-r["n_target"], r["slice_column"], r["slice_value"]))


def _value_counts(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, split_version: int, column: SliceColumn
) -> list[ValueCount]:
    """(value, training count, target count) of one column over the whole version."""
    files = quote_literal(version_location(layout, split_version, "*.parquet"))
    counts: list[ValueCount] = con.execute(
        f"""
        SELECT {column.value_sql()} AS value,
               count_if(split IN ('train', 'train_dev') AND distribution <> 'target'),
               count_if(split = 'dev')
        FROM read_parquet({files})
        GROUP BY value ORDER BY value
        """
    ).fetchall()
    return counts


def _column_rows(split_version: int, name: str, counts: list[ValueCount]) -> list[dict[str, Any]]:
    values = [value for value, _, _ in counts]
    training = np.array([n for _, n, _ in counts], dtype=float)
    target = np.array([n for _, _, n in counts], dtype=float)
    js, chi2, dof, p = _column_tests(training, target)
    share_training = training / training.sum() if training.sum() else training
    share_target = target / target.sum() if target.sum() else target
    return [
        {
            "split_version": split_version,
            "slice_column": name,
            "slice_value": value,
            "n_training": int(n_training),
            "n_target": int(n_target),
            "share_training": float(s_training),
            "share_target": float(s_target),
            "coverage": float(s_training / s_target) if s_target else None,
            "js_distance": js,
            "chi2": chi2,
            "dof": dof,
            "p_value": p,
        }
        for value, n_training, n_target, s_training, s_target in zip(
            values, training, target, share_training, share_target, strict=True
        )
    ]


def _column_tests(
    training: npt.NDArray[np.float64], target: npt.NDArray[np.float64]
) -> ColumnTests:
    """(JS distance, chi-square, degrees of freedom, p) of two count vectors; Nones when a side
    is empty or the column has one value (nothing to compare)."""
    # scipy ships no type information.
    from scipy.spatial.distance import jensenshannon  # type: ignore[import-untyped]
    from scipy.stats import chi2_contingency  # type: ignore[import-untyped]

    if not training.sum() or not target.sum():
        return None, None, None, None
    js = float(jensenshannon(training / training.sum(), target / target.sum(), base=2))
    seen = (training + target) > 0
    if seen.sum() < 2:
        return js, None, None, None
    result = chi2_contingency(np.vstack([training[seen], target[seen]]), correction=False)
    return js, float(result.statistic), int(result.dof), float(result.pvalue)


def _short_of(row: dict[str, Any], min_slice_size: int) -> bool:
    n_target: int = row["n_target"]
    share_training: float = row["share_training"]
    share_target: float = row["share_target"]
    return n_target >= min_slice_size and share_training < UNDER_COVERED_RATIO * share_target
