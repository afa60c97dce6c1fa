"""Stage one landing file in DuckDB: parse it (streaming, never via pandas) into a temp table
with line numbers, and a table of the lines that could not be parsed.

Two read paths: DuckDB's own reader (fast, parallel) first; where it gives up on a file or
reports a fault it cannot localise to one line (an unterminated quote, a line over its limit,
mixed line endings, bytes that are not UTF-8), the file is read again by the line parser
(warehouse/line_parser.py), which salvages every good row. The path taken is recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa

from warehouse.hashing import quote_identifier, quote_literal
from warehouse.landing_formats import (
    DECOMPRESSION_ERRORS,
    LandingFormat,
    UnreadableFileError,
    count_lines,
    landing_format,
    open_landing_bytes,
    refuse_empty_or_utf16,
)
from warehouse.line_parser import Broken, DelimitedRecords, Parsed, json_lines

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
_BATCH_ROWS = 20_000
_BATCH_BYTES = 32 << 20

ReadPath = Literal["duckdb", "line_parser"]

#: Builds the SELECT that fills the staged table from a relation of parsed records.
Projection = Callable[[str], str]


def select_all(relation: str) -> str:
    return f"SELECT * FROM {relation}"


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
            _stage_with_line_parser(con, path, landing, input_columns, table, project)
    except DECOMPRESSION_ERRORS as exc:
        raise UnreadableFileError(
            f"the {landing.compression} data is damaged or cut short ({exc}): compress the "
            "file again and land it"
        ) from exc
    staged = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    rejected = con.execute("SELECT count(*) FROM parse_rejects").fetchone()[0]
    return StagedFile(staged + rejected, rejected, read_path, fallback)


def _stage_with_duckdb(con, path, landing, input_columns, table, project) -> str | None:
    """Stage with DuckDB's reader; returns why the line parser must read the file instead."""
    try:
        if landing.kind == "delimited":
            _stage_delimited(con, path, landing, input_columns, table, project)
        elif landing.kind == "jsonl":
            _read_json_lines_with_duckdb(con, path, landing)
            _stage_json_records(con, input_columns, table, project)
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


def _distrusted_rejects(con, landing: LandingFormat) -> str | None:
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


def _unnumbered_lines(con, path, landing, input_columns, table) -> str | None:
    """Why DuckDB's record numbers cannot be made line numbers, if they cannot.

    DuckDB numbers records, not lines. Line breaks inside quoted values are counted and the
    numbers shifted past them; a blank line (which DuckDB skips without a trace) or a break in
    a column not loaded leaves the count short, and the line parser numbers that file instead.
    """
    if landing.kind != "delimited":
        return None  # JSON lines are read as raw lines, blank ones included: numbers are exact
    records, breaks = con.execute(
        f"SELECT (SELECT count(*) FROM {table}) + (SELECT count(*) FROM parse_rejects), "
        f"(SELECT coalesce(sum({_line_breaks(input_columns)}), 0) FROM {table})"
    ).fetchone()
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


def _shift_past_line_breaks(con, input_columns, table) -> None:
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


def _require_columns(found: list[str], input_columns: tuple[str, ...]) -> None:
    missing = [c for c in input_columns if c not in found]
    if missing:
        raise UnreadableFileError(
            f"missing column(s) {', '.join(missing)} (the file has: {', '.join(found)}); "
            "fix the file's header or the column names in bayesline.toml"
        )


def _stage_delimited(con, path, landing, input_columns, table, project) -> None:
    options = ", ".join(f"{k} = {quote_literal(v)}" for k, v in landing.dialect.items())
    reader = (
        f"read_csv({quote_literal(str(path))}, header = true, all_varchar = true, {options}, "
        f"compression = {_duckdb_compression(landing)}, strict_mode = true, "
        "store_rejects = true, rejects_table = 'csv_rejects', rejects_scan = 'csv_scans')"
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


def _duckdb_compression(landing: LandingFormat) -> str:
    return quote_literal(landing.compression or "none")


def _read_json_lines_with_duckdb(con, path, landing) -> None:
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


def _stage_json_records(con, input_columns, table, project) -> None:
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


def _stage_with_line_parser(con, path, landing, input_columns, table, project) -> None:
    _create_empty_parse_rejects(con)
    rejects = _BatchInserter(con, "parse_rejects", ("line_number", "raw", "error_type", "reason"))
    with open_landing_bytes(path, landing) as stream:
        if landing.kind == "jsonl":
            con.execute("CREATE TEMP TABLE json_lines (line VARCHAR, _line BIGINT)")
            lines = _BatchInserter(con, "json_lines", ("line", "_line"))
            for item in json_lines(stream):
                if isinstance(item, Broken):
                    rejects.add(_reject_row(item), len(item.raw))
                else:
                    lines.add((item[1], item[0]), len(item[1]))
            lines.flush()
            rejects.flush()
            _stage_json_records(con, input_columns, table, project)
            return
        _parse_delimited(con, stream, landing, input_columns, rejects)
    rejects.flush()
    selected = ", ".join(quote_identifier(c) for c in input_columns)
    relation = f"(SELECT _line, CAST(NULL AS VARCHAR) AS _raw, {selected} FROM parsed_records)"
    con.execute(f"CREATE TEMP TABLE {table} AS {project(relation)}")
    con.execute("DROP TABLE parsed_records")


def _parse_delimited(con, stream, landing, input_columns, rejects: _BatchInserter) -> None:
    """Fill temp table parsed_records (_line, one VARCHAR per input column) from `stream`."""
    records = DelimitedRecords(stream, landing.dialect["delim"], landing.dialect["quote"])
    if records.header is None:
        raise UnreadableFileError("the file is empty: it has no header line")
    _require_columns(records.header, input_columns)
    positions = [records.header.index(c) for c in input_columns]
    pick = itemgetter(*positions) if len(positions) > 1 else lambda f: (f[positions[0]],)
    columns = ", ".join(f"{quote_identifier(c)} VARCHAR" for c in input_columns)
    con.execute(f"CREATE TEMP TABLE parsed_records (_line BIGINT, {columns})")
    parsed = _BatchInserter(con, "parsed_records", ("_line", *input_columns))
    for record in records.records():
        if isinstance(record, Parsed):
            parsed.add((record.line, *pick(record.fields)), record.size)
        else:
            rejects.add(
                (record.line, record.raw, record.error_type, record.reason), len(record.raw)
            )
    parsed.flush()


def _reject_row(broken: Broken) -> tuple:
    return (broken.line, broken.raw, broken.error_type, broken.reason)


class _BatchInserter:
    """Rows appended to a DuckDB table in Arrow batches of bounded size."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]):
        self._con, self._table, self._columns = con, table, columns
        self._rows: list[tuple] = []
        self._bytes = 0

    def add(self, row: tuple, size: int) -> None:
        """Append `row`, `size` bytes of text; a full batch goes to DuckDB."""
        self._rows.append(row)
        self._bytes += size
        if len(self._rows) >= _BATCH_ROWS or self._bytes >= _BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        columns = zip(*self._rows, strict=True)
        batch = pa.table(dict(zip(self._columns, map(pa.array, columns), strict=True)))
        self._con.register("_batch", batch)
        names = ", ".join(quote_identifier(c) for c in self._columns)
        self._con.execute(f"INSERT INTO {self._table} ({names}) SELECT {names} FROM _batch")
        self._con.unregister("_batch")
        self._rows, self._bytes = [], 0


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
    """Set `_line` of the parsed records in `table`, in file order (its rowid order): records
    fill, in order, the lines DuckDB did not reject (a record spanning several physical lines
    counts as one, as in DuckDB)."""
    con.execute(f"ALTER TABLE {table} ADD COLUMN _line BIGINT")
    if not con.execute("SELECT count(*) FROM parse_rejects").fetchone()[0]:
        # Nothing rejected: record n sits on line n + first_record_line - 1, no join needed.
        con.execute(f"UPDATE {table} SET _line = rowid + {first_record_line}")
        return
    con.execute(
        f"""
        UPDATE {table} AS t SET _line = f._line
        FROM (
            SELECT l AS _line, row_number() OVER (ORDER BY l) - 1 AS _ordinal
            FROM range({first_record_line},
                       {first_record_line} + (SELECT count(*) FROM {table})
                       + (SELECT count(*) FROM parse_rejects)) AS r(l)
            WHERE l NOT IN (SELECT line_number FROM parse_rejects)
        ) AS f
        WHERE t.rowid = f._ordinal
        """
    )
