"""The labeling steps over one warehouse: queue baseline tasks, sync annotations, store human
baselines and label review, record accepted corrections. Plain functions; the Dagster assets
and the CLI call them, and every lake write of the labeling tables happens here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from labeling.baselines import HumanBaselineRow, compute_human_baselines
from labeling.queue import (
    ImageServing,
    QueuedExample,
    labeling_interface,
    select_baseline_examples,
    slices_to_label,
)
from labeling.review import LabelReviewRow, accept_corrections, find_probable_label_errors
from labeling.simulate import simulate_annotations
from labeling.sync import SyncResult, stored_cursor, sync_annotations
from labeling.tasks import (
    PushResult,
    ensure_local_storage,
    ensure_project,
    push_tasks,
    queued_record_rows,
)
from warehouse.catalog import fetch_dicts, open_reader, refresh_catalog
from warehouse.config import BayeslineConfig
from warehouse.lake_tables import (
    HUMAN_BASELINES,
    LABEL_CORRECTIONS,
    LABEL_REVIEW,
    LABELING_QUEUE,
)
from warehouse.layout import WarehouseLayout
from warehouse.slice_bins import slice_label
from warehouse.slice_names import OVERALL
from warehouse.splits import published_versions
from warehouse.sql_results import fetch_count
from warehouse.storage import write_lake_records

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y%m%dT%H%M%S%f}"


def latest_split_version(layout: WarehouseLayout) -> int | None:
    """The newest published split version, the one the labeling steps work on."""
    versions = published_versions(layout)
    return versions[-1] if versions else None


def baseline_project(client: LabelStudio, config: BayeslineConfig) -> int:
    """The baseline project, created with the blind interface the first time."""
    labeling = config.labeling
    return ensure_project(
        client, labeling.project_title, labeling_interface(config), labeling.overlap
    )


def examples_to_queue(
    layout: WarehouseLayout, config: BayeslineConfig, split_version: int
) -> list[QueuedExample]:
    """The examples to queue next on this split version: never one queued before, each slice
    topped up to its cap (the low-performing slices, and the overall sample)."""
    with open_reader(layout, config) as con:
        slices = slices_to_label(con, split_version)
        queued = [r[0] for r in con.execute("SELECT example_id FROM labeling_queue").fetchall()]
        per_slice = con.execute(
            "SELECT slice_column, slice_value, count(*) FROM labeling_queue "
            "WHERE split_version = ? GROUP BY ALL",
            [split_version],
        ).fetchall()
        return select_baseline_examples(
            con,
            config,
            split_version,
            slices,
            per_slice_cap=config.labeling.per_slice_cap,
            exclude=queued,
            overall_cap=config.labeling.overall_cap,
            already_queued={(c, v): n for c, v, n in per_slice},
        )


def gold_labels(
    layout: WarehouseLayout, config: BayeslineConfig, split_version: int, example_ids: list[str]
) -> dict[str, str]:
    """example id -> gold label in the split version, for the given examples."""
    with open_reader(layout, config) as con:
        rows = con.execute(
            "SELECT example_id, label FROM splits "
            "WHERE version = ? AND list_contains(?, example_id)",
            [split_version, example_ids],
        ).fetchall()
    return dict(rows)


@dataclass(frozen=True)
class QueueRun:
    """What one queueing step did: the tasks pushed, the project, simulated annotations."""

    examples: list[QueuedExample]
    push: PushResult
    simulated_annotations: int

    @property
    def project_id(self) -> int:
        return self.push.project_id

    def tasks_by_slice(self) -> dict[str, int]:
        """slice label -> how many of the examples it queued."""
        counts: dict[str, int] = {}
        for example in self.examples:
            counts[example.slice_label] = counts.get(example.slice_label, 0) + 1
        return counts


def queue_baseline_tasks(
    client: LabelStudio, layout: WarehouseLayout, config: BayeslineConfig, split_version: int
) -> QueueRun:
    """Push the next baseline tasks to Label Studio and record them in lake/labeling/queue/.

    Examples found already in Label Studio (a crash after the import) get their record too.
    With `simulated_annotators` configured (a demo option), simulated people label the overall
    sample; the weak slices wait for people.
    """
    examples = examples_to_queue(layout, config, split_version)
    project_id = baseline_project(client, config)
    images = None
    if config.dataset.image_columns:
        images = ImageServing(layout.home, config.dataset.image_columns)
        for folder in images.storage_folders(examples):
            ensure_local_storage(client, project_id, folder)
    pushed = push_tasks(client, project_id, examples, split_version, images=images)
    record_queued_tasks(layout, pushed, examples, split_version)
    simulated = 0
    if config.labeling.simulated_annotators:
        overall = [e.example_id for e in examples if e.slice_label == slice_label(*OVERALL)]
        simulated = simulate_annotations(
            client,
            project_id,
            gold_labels(layout, config, split_version, overall),
            config.dataset.labels,
            config.labeling.simulated_annotators,
        )
    refresh_catalog(layout, config)
    return QueueRun(examples, pushed, simulated)


def record_queued_tasks(
    layout: WarehouseLayout,
    pushed: PushResult,
    examples: Iterable[QueuedExample],
    split_version: int,
) -> Path | None:
    """Write one labeling_queue file for the examples that are tasks now; None when none are."""
    now = _now()
    rows = queued_record_rows(pushed, examples, split_version, now)
    if not rows:
        return None
    path = layout.table_dir(LABELING_QUEUE) / f"queued-{_stamp(now)}.parquet"
    write_lake_records(layout, LABELING_QUEUE.columns, rows, path, immutable=True)
    return path


def sync_baseline_annotations(
    client: LabelStudio, layout: WarehouseLayout, config: BayeslineConfig
) -> SyncResult:
    """Store the baseline project's new or edited annotations (see labeling/sync.py)."""
    project_id = baseline_project(client, config)
    result = sync_annotations(client, project_id, layout)
    refresh_catalog(layout, config)
    return result


def annotation_cursor(layout: WarehouseLayout) -> datetime | None:
    """The newest stored annotation update (None before the first sync)."""
    return stored_cursor(layout)


def _annotation_count(con: duckdb.DuckDBPyConnection) -> int:
    return fetch_count(con, "SELECT count(*) FROM human_annotations")


@dataclass(frozen=True)
class BaselinesRun:
    annotations: int
    rows: list[HumanBaselineRow]  # the overall one first


def store_human_baselines(
    layout: WarehouseLayout, config: BayeslineConfig, split_version: int | None
) -> BaselinesRun:
    """Compute the human baselines of the split version from the stored annotations and write
    lake/labeling/baselines/v<version>.parquet (nothing without annotations or a version)."""
    rows: list[HumanBaselineRow] = []
    with open_reader(layout, config) as con:
        annotations = _annotation_count(con)
        if annotations and split_version:
            rows = compute_human_baselines(con, config, split_version)
    if rows and split_version:
        path = layout.table_dir(HUMAN_BASELINES) / f"v{split_version:04d}.parquet"
        write_lake_records(layout, HUMAN_BASELINES.columns, rows, path)
        refresh_catalog(layout, config)
    return BaselinesRun(annotations, rows)


def store_label_review(
    layout: WarehouseLayout, config: BayeslineConfig, split_version: int | None
) -> list[LabelReviewRow]:
    """Find the probable label errors of the split version and write
    lake/labeling/review/v<version>.parquet (an empty file when there are none)."""
    rows: list[LabelReviewRow] = []
    if split_version is None:
        return rows
    with open_reader(layout, config) as con:
        if _annotation_count(con):
            rows = find_probable_label_errors(con, config, split_version)
    path = layout.table_dir(LABEL_REVIEW) / f"v{split_version:04d}.parquet"
    write_lake_records(layout, LABEL_REVIEW.columns, rows, path)
    refresh_catalog(layout, config)
    return rows


def record_accepted_corrections(
    layout: WarehouseLayout, config: BayeslineConfig, example_ids: Iterable[str]
) -> list[dict[str, Any]]:
    """Accept the proposed corrections of these examples into lake/labeling/corrections/.

    Raises NotProposedError (from accept_corrections) when an example has no proposal; the next
    split version applies what was accepted.
    """
    with open_reader(layout, config) as con:
        proposed = fetch_dicts(con, "SELECT * FROM label_review")
    corrections = accept_corrections(proposed, list(example_ids))
    folder = layout.table_dir(LABEL_CORRECTIONS)
    path = folder / f"accepted-{_stamp(datetime.now(UTC))}.parquet"
    write_lake_records(layout, LABEL_CORRECTIONS.columns, corrections, path, immutable=True)
    return corrections
