"""The one row of a query that always returns one (an aggregate without GROUP BY), and the
count such a query gives."""

from __future__ import annotations

from typing import Any

import duckdb

from deployment.errors import InvariantError


def fetch_row(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> tuple[Any, ...]:
    """The single row of `query`; its values are whatever DuckDB returns for its columns."""
    row = con.execute(query, params).fetchone()
    if row is None:  # an aggregate without GROUP BY always gives a row
        raise InvariantError(f"expected one row, got none: {query}")
    return row


def fetch_count(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> int:
    """The first value of the single row of `query`: a count(*)."""
    return int(fetch_row(con, query, params)[0])
