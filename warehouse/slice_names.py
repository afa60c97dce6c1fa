"""How a slice is named in every table: the overall row, a missing value, a pair of columns.

Every table with `slice_column` and `slice_value` (slice metrics, diagnosis, human baselines,
learning curves, ...) names slices this way, and every module reads these names from here.
"""

from __future__ import annotations

#: A slice as stored: (slice_column, slice_value).
SliceKey = tuple[str, str]

OVERALL_COLUMN = "overall"
OVERALL_VALUE = "all"
#: The overall row's slice_column as a SQL literal, for queries that pick or sort it.
OVERALL_COLUMN_SQL = f"'{OVERALL_COLUMN}'"
#: The row that covers every example.
OVERALL: SliceKey = (OVERALL_COLUMN, OVERALL_VALUE)
#: A missing value is its own slice, never dropped.
MISSING = "(missing)"
#: Joins the columns (and the values) of a pair of slice columns: 'a x b' = 'va x vb'.
PAIR_SEPARATOR = " x "


def pair_name(first: str, second: str) -> str:
    """The name of a pair of slice columns (or of a pair of their values)."""
    return f"{first}{PAIR_SEPARATOR}{second}"


def is_overall(slice_column: str) -> bool:
    return slice_column == OVERALL_COLUMN
