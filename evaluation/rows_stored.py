"""A lake table's row as the charts and the report read it: column name -> value.

The report draws rows that callers read back from the lake's views with SQL (catalog
fetch_dicts), rows whose values DuckDB types at run time, beside rows built in memory as
TypedDicts (evaluation/rows_learning_curves.py, comparison.ComparisonRow). Both are this: the
columns are those of the table in warehouse/schema.py, and a value's type is its column's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

#: One row of a lake table, by column name (see warehouse/schema.py for the columns).
StoredRow = Mapping[str, Any]
#: Whatever row type a caller holds, for functions that hand its rows back reordered.
StoredRowT = TypeVar("StoredRowT", bound=StoredRow)
#: A row as warehouse.catalog.fetch_dicts returns it, for callees that take a dict.
FetchedRow = dict[str, Any]
