"""Writing to the lake: one writer at a time, every file appearing by an atomic rename."""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.hashing import quote_literal
from warehouse.layout import WarehouseLayout


class WriterBusyError(RuntimeError):
    """Another process is writing to this warehouse."""


@contextmanager
def writer_lock(layout: WarehouseLayout, timeout_s: float = 600.0) -> Iterator[None]:
    """Hold the warehouse's single-writer lock; readers never need it."""
    layout.home.mkdir(parents=True, exist_ok=True)
    with open(layout.writer_lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WriterBusyError(
                        f"Another Bayesline run has been writing to {layout.home} for over "
                        f"{timeout_s:.0f} s; wait for it to finish, then run again."
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: DuckDB's own default is 80% of RAM; a writer that stays small leaves the machine to the
#: Dagster UI, Label Studio and the analysts' queries, and spills to scratch beyond this.
DEFAULT_MEMORY_LIMIT = "1536MB"
MEMORY_LIMIT_ENV = "BAYESLINE_MEMORY_LIMIT"


def writer_connection(layout: WarehouseLayout, memory_limit: str | None = None):
    """An in-memory DuckDB connection that spills to the warehouse's scratch directory."""
    layout.scratch.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"temp_directory": str(layout.scratch)})
    con.execute("SET enable_progress_bar = false")  # logs, not terminals, read our output
    limit = memory_limit or os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT
    con.execute(f"SET memory_limit = {quote_literal(limit)}")
    return con


#: How the lake writes Parquet: zstd at level 1 writes nearly as fast as snappy, and its files
#: come out smaller than zstd's default level 3 for our hash-heavy columns (see BENCHMARKS.md).
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"


def staging_path(final: Path) -> Path:
    """A hidden sibling of `final` that no lake glob matches."""
    return final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"


def copy_to_parquet(con: duckdb.DuckDBPyConnection, query: str, final: Path) -> Path:
    """Write a query's result to `final` as Parquet, atomically."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(final)
    try:
        con.execute(f"COPY ({query}) TO {quote_literal(str(staging))} ({PARQUET_OPTIONS})")
        os.replace(staging, final)
    finally:
        staging.unlink(missing_ok=True)
    return final


_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "TIMESTAMP": pa.timestamp("us"),
    "BOOLEAN": pa.bool_(),
}


def record_schema(columns: dict[str, str]) -> pa.Schema:
    """The Arrow schema of a table described as name -> DuckDB type."""
    return pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in columns.items()])


def write_records(schema: pa.Schema, records: list[dict], final: Path) -> Path:
    """Write a few records (metadata, not data) to `final` as Parquet, atomically."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(final)
    try:
        pq.write_table(pa.Table.from_pylist(records, schema=schema), staging)
        os.replace(staging, final)
    finally:
        staging.unlink(missing_ok=True)
    return final
