"""The registry of lake tables: one folder and one view per table, and the catalog's views."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.catalog import WAREHOUSE_VIEWS
from warehouse.lake_tables import (
    HUMAN_ANNOTATIONS,
    LAKE_TABLES,
    PREDICTIONS,
    UnknownLakeTableError,
    lake_table,
)
from warehouse.layout import WarehouseLayout

COMPUTED_VIEWS = {
    "examples",
    "example_revisions",
    "batches",
    "splits",
    "split_versions",
    "slice_bins",
}


def test_every_table_has_its_own_view_and_folder() -> None:
    views = [t.view for t in LAKE_TABLES]
    folders = [t.folder for t in LAKE_TABLES]
    assert len(set(views)) == len(views) and len(set(folders)) == len(folders)


def test_the_catalog_views_are_the_tables_and_the_computed_views() -> None:
    assert set(WAREHOUSE_VIEWS) == {t.view for t in LAKE_TABLES} | COMPUTED_VIEWS
    assert len(set(WAREHOUSE_VIEWS)) == len(WAREHOUSE_VIEWS)


def test_a_table_folder_is_under_the_lake(tmp_path: Path) -> None:
    layout = WarehouseLayout(tmp_path)
    assert layout.table_dir(HUMAN_ANNOTATIONS) == tmp_path / "lake" / "labeling" / "annotations"
    assert layout.table_dir(PREDICTIONS) == layout.predictions_dir


def test_a_table_is_found_by_its_view_name() -> None:
    assert lake_table("human_annotations") is HUMAN_ANNOTATIONS
    with pytest.raises(UnknownLakeTableError, match="no_such_view"):
        lake_table("no_such_view")
