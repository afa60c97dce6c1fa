"""Writing to the lake: one writer at a time, every file appearing whole (warehouse/lake_store)."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import duckdb

from deployment.atomic_files import atomic_file, staging_path

# Re-exported: the evaluation writers import it from here, beside the lake's writers.
from deployment.atomic_files import write_bytes_atomically as write_bytes_atomically
from deployment.errors import BayeslineError
from deployment.postgres import advisory_lock
from deployment.settings import MEMORY_LIMIT_ENV, memory_limit, postgres_settings
from warehouse.hashing import quote_identifier, quote_literal
from warehouse.lake_store import PublishedObjectError
from warehouse.lake_tables import lake_table
from warehouse.layout import WarehouseLayout
from warehouse.pause_points import pause_point


class WriterBusyError(BayeslineError):
    """Another process is writing to this warehouse."""


class MemoryCapError(BayeslineError, MemoryError):
    """DuckDB ran out of memory under Bayesline's cap; the message says how to raise it."""


#: The advisory lock every lake writer of a team deployment takes (one lake per database).
WRITER_LOCK_NAME = "bayesline lake writer"


@contextmanager
def writer_lock(layout: WarehouseLayout, timeout_s: float = 600.0) -> Iterator[None]:
    """Hold the warehouse's single-writer lock; readers never need it.

    On a laptop it is a file lock in BAYESLINE_HOME. In a team deployment (deployment/settings)
    machines share the lake, and a file lock on one of them binds none of the others: the lock
    is a PostgreSQL advisory lock instead, dropped by the server when its holder dies.
    """
    team = postgres_settings(layout.home)
    busy = (
        f"Another Bayesline run has been writing to {layout.home} for over {timeout_s:.0f} s; "
        "wait for it to finish, then run again."
    )
    if team is None:
        with _file_lock(layout, timeout_s, busy):
            yield
        return
    team_busy = WriterBusyError(f"{busy} It holds the lock in {team.describe()}.")
    with advisory_lock(team, WRITER_LOCK_NAME, timeout_s, busy=team_busy):
        yield


@contextmanager
def _file_lock(layout: WarehouseLayout, timeout_s: float, busy: str) -> Iterator[None]:
    layout.home.mkdir(parents=True, exist_ok=True)
    with open(layout.writer_lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WriterBusyError(busy) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: DuckDB's own default is 80% of RAM; a writer that stays small leaves the machine to the
#: Dagster UI, Label Studio and the analysts' queries, and spills to scratch beyond this.
DEFAULT_MEMORY_LIMIT = "1536MB"


def configured_memory_limit() -> str:
    """DuckDB's memory cap for every connection Bayesline opens: BAYESLINE_MEMORY_LIMIT or
    DEFAULT_MEMORY_LIMIT."""
    return memory_limit() or DEFAULT_MEMORY_LIMIT


def capped_connection(spill_dir: Path, limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection under the memory cap, spilling to `spill_dir`."""
    con = duckdb.connect(config={"temp_directory": str(spill_dir)})
    con.execute("SET enable_progress_bar = false")  # logs, not terminals, read our output
    con.execute(f"SET memory_limit = {quote_literal(limit or configured_memory_limit())}")
    return con


def out_of_memory_advice(limit: str) -> str:
    return (
        f"DuckDB ran out of memory under Bayesline's cap of {limit}: set {MEMORY_LIMIT_ENV} "
        f"higher (for example {MEMORY_LIMIT_ENV}=8GB, within the machine's RAM) and run again"
    )


@contextmanager
def writer_connection(
    layout: WarehouseLayout, memory_limit: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection that spills to the warehouse's scratch directory.

    Running out of memory under the cap raises MemoryCapError: every write is atomic, so what
    finished is kept and what did not left nothing half-written.
    """
    layout.scratch.mkdir(parents=True, exist_ok=True)
    limit = memory_limit or configured_memory_limit()
    with capped_connection(layout.scratch, limit) as con:
        layout.store.register(con)  # s3:// locations, when the lake is on object storage
        try:
            yield con
        except duckdb.OutOfMemoryException as exc:
            said = str(exc).strip().splitlines()[0]
            raise MemoryCapError(
                f"{out_of_memory_advice(limit)}; what finished is kept. DuckDB said: {said}"
            ) from exc


#: How the lake writes Parquet: zstd at level 1 writes nearly as fast as snappy, and its files
#: come out smaller than zstd's default level 3 for our hash-heavy columns (see BENCHMARKS.md).
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"


def lake_table_sql(pattern: Path | list[Path] | list[str], columns: Mapping[str, str]) -> str:
    """A relation over the lake's Parquet files matching `pattern` (a glob, or a list of files;
    at least one must exist) with exactly `columns` (name -> DuckDB type), in order.

    A column added to a table's layout later is NULL in the files written before it: the empty
    typed SELECT, unioned by name, brings it in even when no file has it yet.
    """
    typed = ", ".join(f"CAST(NULL AS {t}) AS {quote_identifier(c)}" for c, t in columns.items())
    names = ", ".join(quote_identifier(c) for c in columns)
    if isinstance(pattern, list):
        listing = "[" + ", ".join(quote_literal(str(p)) for p in pattern) + "]"
    else:
        listing = quote_literal(str(pattern))
    files = f"read_parquet({listing}, union_by_name = true)"
    return (
        f"(SELECT {names} FROM (SELECT * FROM {files} UNION ALL BY NAME "
        f"SELECT {typed} WHERE false))"
    )


def lake_files(con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, pattern: Path) -> list[str]:
    """The lake files matching `pattern` (a glob under layout.lake), listed by the store and
    readable on `con` (the store's filesystem is registered on it)."""
    store = layout.store
    store.register(con)
    return store.files(pattern)


def parquet_files_sql(files: list[str]) -> str:
    """read_parquet over a list of files (at least one)."""
    return "read_parquet([" + ", ".join(quote_literal(f) for f in files) + "])"


@contextmanager
def lake_file(layout: WarehouseLayout, final: Path, *, immutable: bool) -> Iterator[Path]:
    """Make the lake file named `final` (a path under layout.lake) at the yielded local path;
    it then appears whole wherever the lake is: renamed into place on a local lake, one PUT
    from scratch on object storage.

    `immutable` files (a batch record, a predictions file) are never overwritten: one already
    there is refused (PublishedObjectError), on object storage right before the PUT.
    """
    store = layout.store
    if not store.remote:
        if immutable and final.exists():
            raise PublishedObjectError(f"{final} already exists; it is never overwritten")
        with atomic_file(final) as staging:
            yield staging
            pause_point("lake.file_staged")
        return
    layout.scratch.mkdir(parents=True, exist_ok=True)
    staging = staging_path(layout.scratch / final.name)
    try:
        yield staging
        pause_point("lake.file_staged")
        store.put_file(staging, final, immutable=immutable)
    finally:
        staging.unlink(missing_ok=True)


def _copy_query(
    con: duckdb.DuckDBPyConnection, query: str, destination: AbstractContextManager[Path]
) -> None:
    """COPY a query's result as Parquet to the staging path `destination` yields; it decides
    how the file then appears whole (atomic_file locally, lake_file in the lake)."""
    with destination as staging:
        con.execute(f"COPY ({query}) TO {quote_literal(str(staging))} ({PARQUET_OPTIONS})")


def copy_to_local_parquet(con: duckdb.DuckDBPyConnection, query: str, final: Path) -> Path:
    """Write a query's result to the local file `final` (scratch, a split version being
    built) as Parquet, atomically."""
    _copy_query(con, query, atomic_file(final))
    return final


def copy_to_lake(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    query: str,
    final: Path,
    *,
    immutable: bool = False,
) -> str:
    """Write a query's result as the lake file named `final`; returns where it lives."""
    _copy_query(con, query, lake_file(layout, final, immutable=immutable))
    return layout.store.location_of(final)


def create_rows_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: Mapping[str, str],
    rows: Sequence[Mapping[str, object]],
) -> None:
    """Temp table `name` with `columns` (name -> DuckDB type) holding rows of dicts.

    Inserted by DuckDB from one list per column: an Arrow table built from Python rows makes
    pyarrow import pandas (0.2 s a process), and `executemany` takes seconds per 10,000 rows.
    """
    typed = ", ".join(f"{quote_identifier(c)} {t}" for c, t in columns.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({typed})")
    if rows:
        # Several unnest() in one SELECT walk their lists side by side, row by row.
        lists = ", ".join(f"unnest(${i}::{t}[])" for i, t in enumerate(columns.values(), 1))
        values = [[_plain(r.get(c)) for r in rows] for c in columns]
        con.execute(f"INSERT INTO {name} SELECT {lists}", values)


def _plain(value: object) -> object:
    """A numpy scalar as the Python value DuckDB's parameters accept; anything else as is."""
    return value.item() if hasattr(value, "item") and hasattr(value, "dtype") else value


#: The query write_local_records and write_lake_records copy: their rows' temp table.
_RECORDS_QUERY = "SELECT * FROM records"


@contextmanager
def _records_connection(
    columns: Mapping[str, str], records: Sequence[Mapping[str, object]]
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection holding `records` as the temp table `records`."""
    with duckdb.connect() as con:
        create_rows_table(con, "records", columns, records)
        yield con


def write_local_records(
    columns: Mapping[str, str], records: Sequence[Mapping[str, object]], final: Path
) -> Path:
    """Write records (metadata, not data) with `columns` (name -> DuckDB type) to the local
    file `final` as Parquet, atomically."""
    with _records_connection(columns, records) as con:
        return copy_to_local_parquet(con, _RECORDS_QUERY, final)


def write_lake_records(
    layout: WarehouseLayout,
    columns: Mapping[str, str],
    records: Sequence[Mapping[str, object]],
    final: Path,
    *,
    immutable: bool = False,
) -> str:
    """Write records with `columns` (name -> DuckDB type) as the lake file named `final`."""
    with _records_connection(columns, records) as con:
        return copy_to_lake(con, layout, _RECORDS_QUERY, final, immutable=immutable)


#: An evaluation table's rows: (columns: name -> DuckDB type, rows).
EvaluationRows = tuple[Mapping[str, str], Sequence[Mapping[str, object]]]


def store_evaluation_rows(
    layout: WarehouseLayout, stem: str, tables: Mapping[str, EvaluationRows]
) -> None:
    """Write each table's rows to its lake folder as <stem>.parquet, under the writer lock.

    `tables` maps a lake table's view name (warehouse/lake_tables) to its rows.
    """
    with writer_lock(layout), writer_connection(layout) as con:
        for view, (columns, rows) in tables.items():
            create_rows_table(con, f"{view}_rows", columns, rows)
            copy_to_lake(
                con,
                layout,
                f"SELECT * FROM {view}_rows",
                layout.table_dir(lake_table(view)) / f"{stem}.parquet",
            )
