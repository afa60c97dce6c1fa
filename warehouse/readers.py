"""Stage one landing file in DuckDB: parse it (streaming, never via pandas) into a temp table
with line numbers, and a table of the lines that could not be parsed.

Two read paths: DuckDB's own reader (fast, parallel) first; where it gives up on a file or
reports a fault it cannot localise to one line (an unterminated quote, a line over its limit,
mixed line endings, bytes that are not UTF-8), the file is read again by the line parser
(warehouse/line_parser.py), which salvages every good row. The path taken is recorded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from warehouse.hashing import quote_identifier, quote_literal
from warehouse.landing_formats import (
    DECOMPRESSION_ERRORS,
    LandingFormat,
    UnreadableFileError,
    count_lines,
    landing_format,
    refuse_empty_or_utf16,
)
from warehouse.line_staging import stage_with_line_parser
from warehouse.sql_results import fetch_count, fetch_row
from warehouse.staged_tables import (
    Projection,
    create_empty_parse_rejects,
    require_columns,
    select_all,
    stage_json_records,
)

__all__ = ["StagedFile", "UnreadableFileError", "stage_landing_file"]

#: DuckDB's reject error types, in our vocabulary.
_PARSE_ERROR_TYPES = {
    "TOO MANY COLUMNS": "wrong_column_count",
    "MISSING COLUMNS": "wrong_column_count",
    "INVALID ENCODING": "bad_encoding",
    "UNQUOTED VALUE": "malformed_csv",
    "LINE SIZE OVER MAXIMUM": "line_too_long",
    "INVALID STATE": "malformed_csv",
    "CAST": "malformed_csv",
}
#: Rejects of DuckDB's reader that are sure to concern one line only; any other reject (an
#: unterminated quote swallows the rest of the file) sends the file to the line parser.
_LINE_LOCAL_REJECTS = {"delimited": "wrong_column_count", "jsonl": "malformed_json"}

ReadPath = Literal["duckdb", "line_parser"]


@dataclass(frozen=True)
class StagedFile:
    """What staging left on the connection: the staged table (_line, _raw, one VARCHAR per
    input column and the projection's columns; _raw is filled only where the format gives the
    raw line) and `parse_rejects` (line_number, raw, error_type, reason)."""

    rows_read: int
    parse_rejects: int
    read_path: ReadPath = "duckdb"
    fallback_reason: str | None = None  # why DuckDB's reader was not enough


def stage_landing_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    input_columns: tuple[str, ...],
    table: str = "staged",
    project: Projection = select_all,
) -> StagedFile:
    """Parse `path` into temp tables `table` and `parse_rejects` on `con`.

    `project(relation)` is the SELECT that fills `table`; it must keep every column of the
    relation. It runs in the parsing pass, so columns derived from the records cost no second
    pass over the file.
    """
    landing = landing_format(path)
    read_path: ReadPath = "duckdb"
    try:
        if landing.kind != "parquet":
            refuse_empty_or_utf16(path, landing)
        fallback = _stage_with_duckdb(con, path, landing, input_columns, table, project)
        if fallback:
            _drop_staging(con, table)
            read_path = "line_parser"
            stage_with_line_parser(con, path, landing, input_columns, table, project)
    except DECOMPRESSION_ERRORS as exc:
        raise UnreadableFileError(
            f"the {landing.compression} data is damaged or cut short ({exc}): compress the "
            "file again and land it"
        ) from exc
    staged = fetch_count(con, f"SELECT count(*) FROM {table}")
    rejected = fetch_count(con, "SELECT count(*) FROM parse_rejects")
    return StagedFile(staged + rejected, rejected, read_path, fallback)


def _stage_with_duckdb(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    landing: LandingFormat,
    input_columns: tuple[str, ...],
    table: str,
    project: Projection,
) -> str | None:
    """Stage with DuckDB's reader; returns why the line parser must read the file instead."""
    try:
        if landing.kind == "delimited":
            _stage_delimited(con, path, landing, input_columns, table, project)
        elif landing.kind == "jsonl":
            _read_json_lines_with_duckdb(con, path, landing)
            stage_json_records(con, input_columns, table, project)
        else:
            _stage_parquet(con, path, input_columns, table, project)
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        if landing.kind == "parquet":
            raise UnreadableFileError(f"DuckDB could not read the file: {first_line}") from exc
        return f"DuckDB's reader failed: {first_line}"
    return _distrusted_rejects(con, landing) or _unnumbered_lines(
        con, path, landing, input_columns, table
    )


def _distrusted_rejects(con: duckdb.DuckDBPyConnection, landing: LandingFormat) -> str | None:
    if landing.kind == "parquet":
        return None
    found = con.execute(
        "SELECT error_type, count(*) FROM parse_rejects "
        "WHERE error_type <> ? OR contains(raw, chr(10)) GROUP BY 1 ORDER BY 1",
        [_LINE_LOCAL_REJECTS[landing.kind]],
    ).fetchall()
    if not found:
        return None
    kinds = ", ".join(f"{kind} ({n})" for kind, n in found)
    return f"DuckDB's reader reported faults it cannot pin to one line: {kinds}"


def _unnumbered_lines(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    landing: LandingFormat,
    input_columns: tuple[str, ...],
    table: str,
) -> str | None:
    """Why DuckDB's record numbers cannot be made line numbers, if they cannot.

    DuckDB numbers records, not lines. Line breaks inside quoted values are counted and the
    numbers shifted past them; a blank line (which DuckDB skips without a trace) or a break in
    a column not loaded leaves the count short, and the line parser numbers that file instead.
    """
    if landing.kind != "delimited":
        return None  # JSON lines are read as raw lines, blank ones included: numbers are exact
    records, breaks = fetch_row(
        con,
        f"SELECT (SELECT count(*) FROM {table}) + (SELECT count(*) FROM parse_rejects), "
        f"(SELECT coalesce(sum({_line_breaks(input_columns)}), 0) FROM {table})",
    )
    lines = count_lines(path, landing)
    if lines == 1 + records + breaks:  # the header is line 1
        if breaks:
            _shift_past_line_breaks(con, input_columns, table)
        return None
    return (
        f"the file has {lines} lines for a header and {records} records holding {breaks} line "
        "breaks (blank lines?): DuckDB's reader cannot number its lines"
    )


def _line_breaks(input_columns: tuple[str, ...]) -> str:
    counts = [
        f"coalesce(length({c}) - length(replace({c}, chr(10), '')), 0)"
        for c in map(quote_identifier, input_columns)
    ]
    return " + ".join(counts)


def _shift_past_line_breaks(
    con: duckdb.DuckDBPyConnection, input_columns: tuple[str, ...], table: str
) -> None:
    """Move each record (and rejected line) down by the line breaks in the records before it."""
    con.execute(
        f"""
        CREATE TEMP TABLE line_shifts AS
        SELECT _line, sum(breaks) OVER (ORDER BY _line) AS shift
        FROM (SELECT _line, {_line_breaks(input_columns)} AS breaks FROM {table})
        WHERE breaks > 0
        """
    )
    for target, line in ((table, "_line"), ("parse_rejects", "line_number")):
        con.execute(
            f"""
            UPDATE {target} AS t SET {line} = t.{line} + s.shift
            FROM (SELECT t.{line} AS old, c.shift FROM {target} AS t
                  ASOF JOIN line_shifts AS c ON t.{line} > c._line) AS s
            WHERE t.{line} = s.old
            """
        )
    con.execute("DROP TABLE line_shifts")


def _drop_staging(con: duckdb.DuckDBPyConnection, table: str) -> None:
    for name in (table, "parse_rejects", "json_lines", "csv_rejects", "csv_scans"):
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _stage_delimited(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    landing: LandingFormat,
    input_columns: tuple[str, ...],
    table: str,
    project: Projection,
) -> None:
    options = ", ".join(f"{k} = {quote_literal(v)}" for k, v in landing.dialect.items())
    reader = (
        f"read_csv({quote_literal(str(path))}, header = true, all_varchar = true, {options}, "
        f"compression = {_duckdb_compression(landing)}, strict_mode = true, "
        "store_rejects = true, rejects_table = 'csv_rejects', rejects_scan = 'csv_scans')"
    )
    found = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    require_columns(found, input_columns)
    selected = ", ".join(quote_identifier(c) for c in input_columns)
    # No row_number() here: a window keeps the pass (and the projection's hashing) on one
    # thread. preserve_insertion_order (the default) keeps file order in the table, so the
    # rowid is the record's position among parsed records and numbers its line afterwards.
    relation = f"(SELECT CAST(NULL AS VARCHAR) AS _raw, {selected} FROM {reader})"
    con.execute(f"CREATE TEMP TABLE {table} AS {project(relation)}")
    _collect_parse_rejects(con, "csv_rejects")
    _number_lines(con, table, first_record_line=2)


def _duckdb_compression(landing: LandingFormat) -> str:
    return quote_literal(landing.compression or "none")


def _read_json_lines_with_duckdb(
    con: duckdb.DuckDBPyConnection, path: Path, landing: LandingFormat
) -> None:
    """Temp table json_lines (line, _line) and parse_rejects, by DuckDB's reader."""
    # Read raw lines so that one malformed line is one rejected row, with its text kept.
    reader = (
        f"read_csv({quote_literal(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, "
        "delim = chr(30), quote = '', escape = '', auto_detect = false, strict_mode = false, "
        f"compression = {_duckdb_compression(landing)}, "
        "store_rejects = true, rejects_table = 'csv_rejects', rejects_scan = 'csv_scans')"
    )
    con.execute(f"CREATE TEMP TABLE json_lines AS SELECT line FROM {reader}")
    _collect_parse_rejects(con, "csv_rejects")
    _number_lines(con, "json_lines", first_record_line=1)


def _stage_parquet(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    input_columns: tuple[str, ...],
    table: str,
    project: Projection,
) -> None:
    reader = f"read_parquet({quote_literal(str(path))}, file_row_number = true)"
    found = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    require_columns(found, input_columns)
    casts = ", ".join(
        f"CAST({quote_identifier(c)} AS VARCHAR) AS {quote_identifier(c)}" for c in input_columns
    )
    relation = (
        f"(SELECT file_row_number + 1 AS _line, CAST(NULL AS VARCHAR) AS _raw, {casts} "
        f"FROM {reader})"
    )
    con.execute(f"CREATE TEMP TABLE {table} AS {project(relation)}")
    create_empty_parse_rejects(con)


def _collect_parse_rejects(con: duckdb.DuckDBPyConnection, error_table: str) -> None:
    """Fill `parse_rejects` with the lines DuckDB's reader rejected, one row per line."""
    create_empty_parse_rejects(con)
    has_errors = fetch_count(
        con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [error_table]
    )
    if not has_errors:
        return
    cases = " ".join(
        f"WHEN {quote_literal(k)} THEN {quote_literal(v)}" for k, v in _PARSE_ERROR_TYPES.items()
    )
    con.execute(
        f"INSERT INTO parse_rejects SELECT line, any_value(csv_line), "
        f"any_value(CASE error_type {cases} ELSE 'malformed_row' END), "
        f"string_agg(error_message, '; ') FROM {error_table} GROUP BY line"
    )


def _number_lines(con: duckdb.DuckDBPyConnection, table: str, first_record_line: int) -> None:
    """Add `_line` to the parsed records in `table`, in file order (its rowid order): records
    fill, in order, the lines DuckDB did not reject (a record spanning several physical lines
    counts as one, as in DuckDB).

    The table is copied with the column rather than updated in place: an UPDATE of every row
    keeps its undo data in memory, and at 67M rows that alone left a later GROUP BY too little
    of the default memory cap (BENCHMARKS.md). A copy is written block by block and spills.
    """
    if not fetch_count(con, "SELECT count(*) FROM parse_rejects"):
        # Nothing rejected: record n sits on line n + first_record_line - 1, no join needed,
        # and the copy keeps the file's order.
        numbered = f"SELECT *, rowid + {first_record_line} AS _line FROM {table}"
    else:
        numbered = f"""
            SELECT t.*, f._line
            FROM {table} AS t
            JOIN (
                SELECT l AS _line, row_number() OVER (ORDER BY l) - 1 AS _ordinal
                FROM range({first_record_line},
                           {first_record_line} + (SELECT count(*) FROM {table})
                           + (SELECT count(*) FROM parse_rejects)) AS r(l)
                WHERE l NOT IN (SELECT line_number FROM parse_rejects)
            ) AS f ON t.rowid = f._ordinal
        """
    con.execute(f"CREATE TEMP TABLE _numbered AS {numbered}")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE _numbered RENAME TO {table}")
