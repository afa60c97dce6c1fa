"""Staging by the line parser: records parsed in Python (warehouse/line_parser.py) and written
to DuckDB in Arrow batches of bounded size, into the same tables DuckDB's reader fills."""

from __future__ import annotations

from collections.abc import Callable
from io import BufferedIOBase
from operator import itemgetter
from pathlib import Path

import duckdb
import pyarrow as pa

from warehouse.hashing import quote_identifier
from warehouse.landing_formats import LandingFormat, UnreadableFileError, open_landing_bytes
from warehouse.line_parser import Broken, DelimitedRecords, Parsed, json_lines
from warehouse.staged_tables import (
    Projection,
    create_empty_parse_rejects,
    require_columns,
    stage_json_records,
)

#: A rejected line as `parse_rejects` holds it: line_number, raw, error_type, reason.
RejectRow = tuple[int, str, str, str]

_BATCH_ROWS = 20_000
_BATCH_BYTES = 32 << 20


def stage_with_line_parser(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    landing: LandingFormat,
    input_columns: tuple[str, ...],
    table: str,
    project: Projection,
) -> None:
    """Fill `table` and `parse_rejects` as the DuckDB path would, reading lines in Python."""
    create_empty_parse_rejects(con)
    rejects = _BatchInserter(con, "parse_rejects", ("line_number", "raw", "error_type", "reason"))
    with open_landing_bytes(path, landing) as stream:
        if landing.kind == "jsonl":
            _parse_json_lines(con, stream, rejects)
        else:
            _parse_delimited(con, stream, landing, input_columns, rejects)
    rejects.flush()
    if landing.kind == "jsonl":
        stage_json_records(con, input_columns, table, project)
        return
    selected = ", ".join(quote_identifier(c) for c in input_columns)
    relation = f"(SELECT _line, CAST(NULL AS VARCHAR) AS _raw, {selected} FROM parsed_records)"
    con.execute(f"CREATE TEMP TABLE {table} AS {project(relation)}")
    con.execute("DROP TABLE parsed_records")


def _parse_json_lines(
    con: duckdb.DuckDBPyConnection, stream: BufferedIOBase, rejects: _BatchInserter
) -> None:
    """Fill temp table json_lines (line, _line) from `stream`: one row per non-empty line."""
    con.execute("CREATE TEMP TABLE json_lines (line VARCHAR, _line BIGINT)")
    lines = _BatchInserter(con, "json_lines", ("line", "_line"))
    for item in json_lines(stream):
        if isinstance(item, Broken):
            rejects.add(_reject_row(item), len(item.raw))
        else:
            number, text = item
            lines.add((text, number), len(text))
    lines.flush()


def _parse_delimited(
    con: duckdb.DuckDBPyConnection,
    stream: BufferedIOBase,
    landing: LandingFormat,
    input_columns: tuple[str, ...],
    rejects: _BatchInserter,
) -> None:
    """Fill temp table parsed_records (_line, one VARCHAR per input column) from `stream`."""
    records = DelimitedRecords(stream, landing.dialect["delim"], landing.dialect["quote"])
    if records.header is None:
        raise UnreadableFileError("the file is empty: it has no header line")
    require_columns(records.header, input_columns)
    positions = [records.header.index(c) for c in input_columns]
    pick: Callable[[list[str]], tuple[str, ...]] = (
        itemgetter(*positions) if len(positions) > 1 else lambda f: (f[positions[0]],)
    )
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


def _reject_row(broken: Broken) -> RejectRow:
    return (broken.line, broken.raw, broken.error_type, broken.reason)


class _BatchInserter:
    """Rows appended to a DuckDB table in Arrow batches of bounded size."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]):
        self._con, self._table, self._columns = con, table, columns
        self._rows: list[tuple[object, ...]] = []
        self._bytes = 0

    def add(self, row: tuple[object, ...], size: int) -> None:
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
