"""Column layout of the warehouse tables (the contract between ingestion, checks and splits)."""

from __future__ import annotations

from warehouse.config import DatasetConfig

#: Columns every example carries besides the dataset's own payload and slice columns.
EXAMPLE_KEY_COLUMNS = ("example_id", "source", "distribution", "group_key", "label")
EXAMPLE_LINEAGE_COLUMNS = ("content_hash", "dedup_key", "file_id", "line_number", "ingested_at")

REJECTED_ROW_COLUMNS = {
    "file_id": "VARCHAR",
    "source": "VARCHAR",
    "file_path": "VARCHAR",
    "line_number": "BIGINT",
    "raw": "VARCHAR",
    "error_type": "VARCHAR",
    "reason": "VARCHAR",
    "rejected_at": "TIMESTAMP",
}

INGESTED_FILE_COLUMNS = {
    "file_id": "VARCHAR",
    "source": "VARCHAR",
    "distribution": "VARCHAR",
    "file_path": "VARCHAR",
    "content_sha256": "VARCHAR",
    "size_bytes": "BIGINT",
    "status": "VARCHAR",
    "rows_read": "BIGINT",
    "rows_loaded": "BIGINT",
    "rows_rejected": "BIGINT",
    "reason": "VARCHAR",
    "ingested_at": "TIMESTAMP",
}

SPLIT_VERSION_COLUMNS = {
    "version": "INTEGER",
    "parent_version": "INTEGER",
    "created_at": "TIMESTAMP",
    "n_train": "BIGINT",
    "n_train_dev": "BIGINT",
    "n_dev": "BIGINT",
    "n_test": "BIGINT",
    "n_added": "BIGINT",
    "n_removed": "BIGINT",
    "n_changed": "BIGINT",
    "n_excluded": "BIGINT",
    "config_hash": "VARCHAR",
    "manifest_sha256": "VARCHAR",
}


def example_columns(dataset: DatasetConfig) -> dict[str, str]:
    """Name -> DuckDB type of every column of the `examples` table, in order."""
    columns = {name: "VARCHAR" for name in EXAMPLE_KEY_COLUMNS}
    columns.update({name: "VARCHAR" for name in dataset.payload_columns})
    columns.update({name: "VARCHAR" for name in dataset.slice_columns})
    columns.update(
        {
            "content_hash": "VARCHAR",
            "dedup_key": "VARCHAR",
            "file_id": "VARCHAR",
            "line_number": "BIGINT",
            "ingested_at": "TIMESTAMP",
        }
    )
    return columns


def split_columns(dataset: DatasetConfig) -> dict[str, str]:
    """Columns of a published split file: the version and split, then the example."""
    return {"version": "INTEGER", "split": "VARCHAR", **example_columns(dataset)}
