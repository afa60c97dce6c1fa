"""SQL access to the warehouse: views over the Parquet lake, for readers and for the writer.

The lake is the source of truth and every file in it appears whole (an atomic rename locally,
one PUT or a commit marker on object storage: warehouse/lake_store), so a query sees each
ingested batch and each split version either whole or not at all. Readers build the
views in their own connection; `warehouse.duckdb` holds the same views for analysts' own
clients and is replaced atomically, never held open by the writer, so no reader meets a lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from deployment.atomic_files import atomic_file
from deployment.errors import BayeslineError
from warehouse.batch_decisions import EXCLUDED_FILE_IDS_SQL, batches_view_sql
from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_identifier, quote_literal
from warehouse.lake_tables import (
    EVALUATION_TABLES,
    INGEST_TABLES,
    LABELING_TABLES,
    LAKE_TABLES,
    LakeTable,
)
from warehouse.layout import WarehouseLayout
from warehouse.revisions import current_examples_sql, example_revisions_sql, has_examples
from warehouse.schema import (
    SLICE_BIN_COLUMNS,
    SPLIT_VERSION_COLUMNS,
    example_columns,
    example_revision_columns,
)
from warehouse.split_names import SPLITS
from warehouse.splits import published_versions, version_location
from warehouse.storage import capped_connection, lake_table_sql


def _views(tables: tuple[LakeTable, ...]) -> tuple[str, ...]:
    return tuple(table.view for table in tables)


#: Every view of the warehouse: one per lake table (warehouse/lake_tables), and the views
#: computed from the lake's examples, batches and split versions.
WAREHOUSE_VIEWS = (
    "examples",
    "example_revisions",
    *_views(INGEST_TABLES),
    "batches",
    "splits",
    "split_versions",
    "slice_bins",
    *_views(EVALUATION_TABLES),
    *_views(LABELING_TABLES),
)


def create_views(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, config: BayeslineConfig
) -> None:
    """(Re)create the warehouse views on a connection."""
    columns = example_columns(config.dataset)
    layout.store.register(con)  # a view is bound when created: s3:// must be readable now
    # First the lake tables: `examples` and `batches` read `batch_decisions` and the batches.
    for table in LAKE_TABLES:
        _create_table_view(con, layout, table)
    _create_example_views(con, layout, config)
    batches = batches_view_sql(config.quality.max_batch_reject_rate)
    con.execute(f"CREATE OR REPLACE VIEW batches AS {batches}")
    _create_split_views(con, layout, {"version": "INTEGER", "split": "VARCHAR", **columns})


def _create_table_view(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, table: LakeTable
) -> None:
    """The view over every Parquet file in the table's folder."""
    _create_parquet_view(
        con,
        layout,
        table.view,
        layout.table_dir(table) / "*.parquet",
        table.columns,
        order_by=table.order_by,
        latest_by=table.latest_by,
    )


def _create_split_views(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, split_file_columns: dict[str, str]
) -> None:
    """`splits`, `split_versions` and `slice_bins` over the published versions.

    Locally a glob finds them (a version folder appears whole, by a rename). On object storage
    the views name the files of the versions with a commit marker, and nothing else: a version
    being published, or left half-copied by a crash, is not in them.
    """
    split_files: Path | list[str]
    version_rows: Path | list[str]
    bins: Path | list[str]
    if layout.store.remote:
        versions = published_versions(layout)

        def files(*parts: str) -> list[str]:
            return [version_location(layout, v, *parts) for v in versions]

        split_files = [f for split in SPLITS for f in files(f"{split}.parquet")]
        version_rows, bins = files("_meta", "version.parquet"), files("_meta", "slice_bins.parquet")
    else:
        split_files = layout.splits_dir / "v*" / "*.parquet"
        version_rows = layout.splits_dir / "v*" / "_meta" / "version.parquet"
        bins = layout.splits_dir / "v*" / "_meta" / "slice_bins.parquet"
    _create_parquet_view(con, layout, "splits", split_files, split_file_columns)
    _create_parquet_view(
        con, layout, "split_versions", version_rows, SPLIT_VERSION_COLUMNS, order_by="version"
    )
    _create_parquet_view(
        con,
        layout,
        "slice_bins",
        bins,
        SLICE_BIN_COLUMNS,
        order_by="split_version, slice_column, bin",
    )


def _create_example_views(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, config: BayeslineConfig
) -> None:
    """`examples` holds the current revision of each example, `example_revisions` all of them.

    A batch a person excluded counts as never delivered: its rows are in `example_revisions`
    (never current) and not in `examples`, which is what the next split version holds.
    """
    dataset = config.dataset
    if not has_examples(layout):
        _create_empty_view(con, "examples", example_columns(dataset))
        _create_empty_view(con, "example_revisions", example_revision_columns(dataset))
        return
    current = current_examples_sql(layout, dataset, excluding_file_ids_sql=EXCLUDED_FILE_IDS_SQL)
    con.execute(f"CREATE OR REPLACE VIEW examples AS SELECT * FROM {current}")
    revisions = example_revisions_sql(layout, dataset, excluding_file_ids_sql=EXCLUDED_FILE_IDS_SQL)
    con.execute(f"CREATE OR REPLACE VIEW example_revisions AS {revisions}")


def _create_parquet_view(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    name: str,
    pattern: Path | list[str],
    columns: Mapping[str, str],
    order_by: str | None = None,
    latest_by: tuple[str, str] | None = None,
) -> None:
    """A view over the lake files matching `pattern` (a glob under layout.lake), or over a
    list of files known to exist; an empty view with the columns when there are none.

    A local lake's view keeps the glob, so a query sees files written after the view was made;
    on object storage the store lists the files, and the view names them.
    """
    store = layout.store
    files = pattern if isinstance(pattern, list) else store.files(pattern)
    if files:
        source = pattern if not store.remote else files
        body = f"SELECT * FROM {lake_table_sql(source, columns)}"
        if latest_by:
            key, newest = (quote_identifier(c) for c in latest_by)
            body += f" QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {newest} DESC) = 1"
        if order_by:
            body += f" ORDER BY {order_by}"
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {body}")
    else:
        _create_empty_view(con, name, columns)


def _create_empty_view(
    con: duckdb.DuckDBPyConnection, name: str, columns: Mapping[str, str]
) -> None:
    # An empty table still has its columns, so queries written today work tomorrow.
    typed = ", ".join(f"CAST(NULL AS {t}) AS {quote_identifier(c)}" for c, t in columns.items())
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {typed} WHERE false")


#: A row a query returned, column -> value; the query, not Python, decides the values' types.
SqlRow = dict[str, Any]


def fetch_dicts(
    con: duckdb.DuckDBPyConnection, query: str, params: Sequence[object] | None = None
) -> list[SqlRow]:
    """Run a query and return its rows as column -> value dicts."""
    cursor = con.execute(query, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def open_reader(layout: WarehouseLayout, config: BayeslineConfig) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the warehouse views; never touches the writer's files.

    It has the writers' memory cap (BAYESLINE_MEMORY_LIMIT): DuckDB's own default of 80% of
    RAM let one check at 10M rows take gigabytes beside everything else in a Dagster run.
    """
    # A big query spills to the warehouse's scratch, never to a .tmp under the caller's cwd;
    # one directory per connection, as several readers may spill at once.
    con = capped_connection(layout.scratch / f"reader-{uuid.uuid4().hex[:12]}")
    create_views(con, layout, config)
    return con


def refresh_catalog(layout: WarehouseLayout, config: BayeslineConfig) -> Path:
    """Rebuild warehouse.duckdb beside the lake and swap it in atomically.

    With the lake on object storage its views name s3:// files, which only a connection with
    the lake's filesystem registered reads: open it with `open_catalog` (or `bayesline sql`).
    """
    with atomic_file(layout.catalog_path) as staging:
        try:
            with duckdb.connect(str(staging)) as con:
                create_views(con, layout, config)
                if layout.store.remote:
                    _say_how_to_read(con, layout)
        finally:
            Path(f"{staging}.wal").unlink(missing_ok=True)
    return layout.catalog_path


#: What a view of a catalog over object storage says about itself (`duckdb_views().comment`).
S3_CATALOG_HINT = (
    "reads s3:// files: a plain DuckDB client has no filesystem for them; use `bayesline sql` "
    "or, in Python, warehouse.catalog.open_catalog(WarehouseLayout.from_env())"
)


def _say_how_to_read(con: duckdb.DuckDBPyConnection, layout: WarehouseLayout) -> None:
    hint = quote_literal(f"{layout.store.root} {S3_CATALOG_HINT}")
    for view in WAREHOUSE_VIEWS:
        con.execute(f"COMMENT ON VIEW {view} IS {hint}")


def open_catalog(layout: WarehouseLayout) -> duckdb.DuckDBPyConnection:
    """warehouse.duckdb opened read-only, able to read the lake wherever it is (on object
    storage a plain DuckDB client cannot: it has no filesystem for s3:// registered)."""
    con = duckdb.connect(str(layout.catalog_path), read_only=True)
    layout.store.register(con)
    return con


class ReadOnlyQueryError(BayeslineError, ValueError):
    """A query would change something; the SQL interface only reads."""


READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA"}


def execute_read_only(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.DuckDBPyConnection:
    """Run `query` if every statement in it only reads; return the cursor of the last one."""
    statements = con.extract_statements(query)
    if not statements:
        raise ReadOnlyQueryError("the query is empty")
    for statement in statements:
        kind = statement.type.name
        if kind not in READ_ONLY_STATEMENTS:
            raise ReadOnlyQueryError(
                f"{kind} statements are not allowed: `bayesline sql` only reads. To change "
                "the warehouse, land files and materialise the pipeline."
            )
    for statement in statements[:-1]:
        con.execute(statement)
    return con.execute(statements[-1])
