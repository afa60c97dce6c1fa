"""Stage one landing file in DuckDB: parse it (streaming, never via pandas) into a temp table
with line numbers, and a table of the lines that could not be parsed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.hashing import quote_identifier, quote_literal

CSV_DIALECTS = {
    ".csv": {"delim": ",", "quote": '"', "escape": '"'},
    # TSV as most tools write it: no quoting, so a quote character is just text.
    ".tsv": {"delim": "\t", "quote": "", "escape": ""},
    ".txt": {"delim": "\t", "quote": "", "escape": ""},
}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
PARQUET_SUFFIXES = {".parquet"}
SUPPORTED_SUFFIXES = set(CSV_DIALECTS) | JSONL_SUFFIXES | PARQUET_SUFFIXES

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

#: Builds the SELECT that fills the staged table from a relation of parsed records.
Projection = Callable[[str], str]


def select_all(relation: str) -> str:
    return f"SELECT * FROM {relation}"


class UnreadableFileError(ValueError):
    """The file as a whole cannot be ingested; the message says why and what to do."""


@dataclass(frozen=True)
class StagedFile:
    """What staging left on the connection: the staged table (_line, _raw, one VARCHAR per
    input column and the projection's columns; _raw is filled only where the format gives the
    raw line) and `parse_rejects` (line_number, raw, error_type, reason)."""

    rows_read: int
    parse_rejects: int


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
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFileError(
            f"unsupported file type '{suffix or path.name}': land CSV (.csv), TSV (.tsv, .txt), "
            "JSON lines (.jsonl, .ndjson) or Parquet (.parquet) files"
        )
    try:
        if suffix in CSV_DIALECTS:
            _stage_delimited(con, path, input_columns, CSV_DIALECTS[suffix], table, project)
        elif suffix in JSONL_SUFFIXES:
            _stage_jsonl(con, path, input_columns, table, project)
        else:
            _stage_parquet(con, path, input_columns, table, project)
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise UnreadableFileError(f"DuckDB could not read the file: {first_line}") from exc
    staged = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    rejected = con.execute("SELECT count(*) FROM parse_rejects").fetchone()[0]
    return StagedFile(rows_read=staged + rejected, parse_rejects=rejected)


def _require_columns(found: list[str], input_columns: tuple[str, ...]) -> None:
    missing = [c for c in input_columns if c not in found]
    if missing:
        raise UnreadableFileError(
            f"missing column(s) {', '.join(missing)} (the file has: {', '.join(found)}); "
            "fix the file's header or the column names in bayesline.toml"
        )


def _stage_delimited(con, path, input_columns, dialect, table, project) -> None:
    options = ", ".join(f"{k} = {quote_literal(v)}" for k, v in dialect.items())
    reader = (
        f"read_csv({quote_literal(str(path))}, header = true, all_varchar = true, {options}, "
        "strict_mode = true, store_rejects = true, rejects_table = 'csv_rejects', "
        "rejects_scan = 'csv_scans')"
    )
    found = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    _require_columns(found, input_columns)
    selected = ", ".join(quote_identifier(c) for c in input_columns)
    # No row_number() here: a window keeps the pass (and the projection's hashing) on one
    # thread. preserve_insertion_order (the default) keeps file order in the table, so the
    # rowid is the record's position among parsed records and numbers its line afterwards.
    relation = f"(SELECT CAST(NULL AS VARCHAR) AS _raw, {selected} FROM {reader})"
    con.execute(f"CREATE TEMP TABLE {table} AS {project(relation)}")
    _collect_parse_rejects(con, "csv_rejects")
    _number_lines(con, table, first_record_line=2)


def _stage_jsonl(con, path, input_columns, table, project) -> None:
    # Read raw lines so that one malformed line is one rejected row, with its text kept.
    reader = (
        f"read_csv({quote_literal(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, "
        "delim = chr(30), quote = '', escape = '', auto_detect = false, strict_mode = false, "
        "store_rejects = true, rejects_table = 'csv_rejects', rejects_scan = 'csv_scans')"
    )
    con.execute(f"CREATE TEMP TABLE json_lines AS SELECT line FROM {reader}")
    _collect_parse_rejects(con, "csv_rejects")
    _number_lines(con, "json_lines", first_record_line=1)
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


def _stage_parquet(con, path, input_columns, table, project) -> None:
    reader = f"read_parquet({quote_literal(str(path))}, file_row_number = true)"
    found = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    _require_columns(found, input_columns)
    casts = ", ".join(
        f"CAST({quote_identifier(c)} AS VARCHAR) AS {quote_identifier(c)}" for c in input_columns
    )
    relation = (
        f"(SELECT file_row_number + 1 AS _line, CAST(NULL AS VARCHAR) AS _raw, {casts} "
        f"FROM {reader})"
    )
    con.execute(f"CREATE TEMP TABLE {table} AS {project(relation)}")
    _create_empty_parse_rejects(con)


def _create_empty_parse_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TEMP TABLE parse_rejects (line_number BIGINT, raw VARCHAR, error_type VARCHAR, "
        "reason VARCHAR)"
    )


def _collect_parse_rejects(con: duckdb.DuckDBPyConnection, error_table: str) -> None:
    """Fill `parse_rejects` with the lines DuckDB's reader rejected, one row per line."""
    _create_empty_parse_rejects(con)
    has_errors = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [error_table]
    ).fetchone()[0]
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
    if not con.execute("SELECT count(*) FROM parse_rejects").fetchone()[0]:
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
