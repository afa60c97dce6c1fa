"""Where a warehouse keeps its files under BAYESLINE_HOME."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deployment.settings import bayesline_home
from warehouse.lake_store import LakeStore, lake_store
from warehouse.lake_tables import (
    BATCH_DECISIONS,
    EVALUATION_FOLDER,
    EXAMPLES_FOLDER,
    INGESTED_FILES,
    LABELING_FOLDER,
    PREDICTIONS,
    REJECTED_ROWS,
    SPLITS_FOLDER,
    LakeTable,
)


@dataclass(frozen=True)
class WarehouseLayout:
    """Paths of one warehouse. The Parquet lake is the source of truth; the DuckDB file only
    holds views over it, so readers never contend with the writer for a lock."""

    home: Path

    @classmethod
    def from_env(cls) -> WarehouseLayout:
        return cls(bayesline_home())

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def store(self) -> LakeStore:
        """Where the lake's files live: lake/ here, or the object storage BAYESLINE_LAKE_URL
        names (README: The lake on S3-compatible object storage). `table_dir` and the `*_dir`
        paths below name the lake's tables; the store says where each name really is."""
        return lake_store(self.lake)

    def table_dir(self, table: LakeTable) -> Path:
        """The folder of a lake table's Parquet files (warehouse/lake_tables)."""
        return self.lake.joinpath(*table.folder.split("/"))

    @property
    def examples_dir(self) -> Path:
        return self.lake / EXAMPLES_FOLDER

    @property
    def rejected_dir(self) -> Path:
        return self.table_dir(REJECTED_ROWS)

    @property
    def ingested_files_dir(self) -> Path:
        return self.table_dir(INGESTED_FILES)

    @property
    def batch_decisions_dir(self) -> Path:
        """lake/batch_decisions/: one file per decision to exclude or accept a batch."""
        return self.table_dir(BATCH_DECISIONS)

    @property
    def splits_dir(self) -> Path:
        return self.lake / SPLITS_FOLDER

    @property
    def predictions_dir(self) -> Path:
        """lake/predictions/<model_version>__v<split_version>.parquet, immutable once written."""
        return self.table_dir(PREDICTIONS)

    @property
    def evaluation_dir(self) -> Path:
        """lake/evaluation/<table>/<model_version>__v<split_version>.parquet, replaced per run."""
        return self.lake / EVALUATION_FOLDER

    @property
    def labeling_dir(self) -> Path:
        """lake/labeling/: tasks queued, annotations synced, baselines and label review."""
        return self.lake / LABELING_FOLDER

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def logs_dir(self) -> Path:
        """logs/run-<run id>.log: each CLI run's full Dagster log, tracebacks included."""
        return self.home / "logs"

    @property
    def catalog_path(self) -> Path:
        """The DuckDB file analysts open (read-only) to query the warehouse with SQL."""
        return self.home / "warehouse.duckdb"

    @property
    def scratch(self) -> Path:
        """Spill space for DuckDB, writers and readers alike; it never holds lake data."""
        return self.home / "tmp"

    @property
    def writer_lock_path(self) -> Path:
        return self.home / ".writer.lock"

    def ensure(self) -> WarehouseLayout:
        """Create the local folders; the lake's only when it is on this disk."""
        lake_tables = (
            self.examples_dir,
            self.rejected_dir,
            self.ingested_files_dir,
            self.splits_dir,
            self.predictions_dir,
            self.evaluation_dir,
            self.labeling_dir,
        )
        local = () if self.store.remote else lake_tables
        for path in (self.landing, *local, self.scratch):
            path.mkdir(parents=True, exist_ok=True)
        return self
