"""The temp tables staging leaves on a connection, whichever path read the file: the staged
records (filled through a projection) and `parse_rejects`; and the JSON-lines step both read
paths share."""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from warehouse.hashing import quote_identifier, quote_literal
from warehouse.landing_formats import UnreadableFileError

#: Builds the SELECT that fills the staged table from a relation of parsed records.
Projection = Callable[[str], str]


def select_all(relation: str) -> str:
    return f"SELECT * FROM {relation}"


def require_columns(found: list[str], input_columns: tuple[str, ...]) -> None:
    missing = [c for c in input_columns if c not in found]
    if missing:
        raise UnreadableFileError(
            f"missing column(s) {', '.join(missing)} (the file has: {', '.join(found)}); "
            "fix the file's header or the column names in bayesline.toml"
        )


def stage_json_records(
    con: duckdb.DuckDBPyConnection, input_columns: tuple[str, ...], table: str, project: Projection
) -> None:
    """Parse json_lines (line, _line) into `table`; a line that is no JSON object is rejected."""
    con.execute("DELETE FROM json_lines WHERE line IS NULL OR trim(line) = ''")
    # CASE, not AND: DuckDB may evaluate both sides of AND, and json_type fails on bad JSON.
    is_object = "CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END"
    con.execute(
        "INSERT INTO parse_rejects SELECT _line, line, 'malformed_json', "
        f"'not a JSON object on one line' FROM json_lines WHERE NOT {is_object}"
    )
    extracted = ", ".join(
        f"json_extract_string(line, {quote_literal('$.' + json_key(c))}) AS {quote_identifier(c)}"
        for c in input_columns
    )
    # Deleted first, not filtered in the same statement: DuckDB may evaluate the projection
    # before the filter, and json_extract_string fails on a malformed line.
    con.execute(f"DELETE FROM json_lines WHERE NOT {is_object}")
    relation = f"(SELECT _line, line AS _raw, {extracted} FROM json_lines)"
    con.execute(f"CREATE TEMP TABLE {table} AS {project(relation)}")
    con.execute("DROP TABLE json_lines")


def json_key(column: str) -> str:
    return '"' + column.replace('"', '\\"') + '"'


def create_empty_parse_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TEMP TABLE parse_rejects (line_number BIGINT, raw VARCHAR, error_type VARCHAR, "
        "reason VARCHAR)"
    )
