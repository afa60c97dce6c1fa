"""The labeling loop against a real Label Studio (no mocks): blind projects, pushes that never
duplicate a task, SIMULATED annotators with planted error rates, an incremental sync that
survives an outage, and the human baselines computed from what it stored.

Every project is created here with a unique title and deleted at the end. The simulation is
deterministic: with SEED, every planted rate lies inside its annotator's 95% Wilson interval
and no other annotator's rate does (of 200 seeds, 88% do at 150 tasks and 87% at 300), so a
failure means the code changed, not the dice.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeling.baselines import compute_human_baselines
from labeling.client import client
from labeling.process import ServerState, start, stop
from labeling.queue import QueuedExample, labeling_interface
from labeling.server_settings import LabelStudioSettings
from labeling.simulate import simulate_annotations, simulated_email, simulated_label
from labeling.sync import (
    LabelStudioUnavailable,
    SyncResult,
    has_new_annotations,
    stored_cursor,
    sync_annotations,
    with_retries,
)
from labeling.tasks import BlindProjectError, ensure_project, push_tasks, queued_record_rows
from tests.conftest import SMALL_CONFIG
from warehouse.catalog import create_views
from warehouse.config import parse_config
from warehouse.layout import WarehouseLayout
from warehouse.schema import HUMAN_ANNOTATION_COLUMNS, LABELING_QUEUE_COLUMNS
from warehouse.storage import write_local_records

CONFIG = parse_config(SMALL_CONFIG)
INTERFACE = labeling_interface(CONFIG)
LABELS = tuple(CONFIG.dataset.labels)
PLANTED = {"ann_a": 0.05, "ann_b": 0.15, "ann_c": 0.30}
SEED = 0
N_TASKS = 150  # each simulated annotation is one request: 450 of them
SPLIT_VERSION = 1

Server = tuple[LabelStudioSettings, ServerState]


def queued(n: int) -> list[QueuedExample]:
    """n examples as the queue yields them: payload only, from dev and test, on two devices."""
    return [
        QueuedExample(
            example_id=f"ex{i:04d}",
            split=("dev", "test")[i % 3 % 2],
            slice_column="device",
            slice_value=("desktop", "mobile")[i % 5 % 2],
            priority=float(i % 7),
            payload={"text": f"review number {i}"},
        )
        for i in range(n)
    ]


def gold_of(examples: list[QueuedExample]) -> dict[str, str]:
    return {e.example_id: LABELS[int(e.example_id[2:]) % 2] for e in examples}


def choice_result(label: str) -> list[dict]:
    return [
        {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}
    ]


def synced_dir(home: Path) -> Path:
    """Where the human_annotations asset stores its sync batches in a warehouse at `home`."""
    return WarehouseLayout(home).labeling_dir / "annotations"


def warehouse_views(home: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB with the production warehouse views of the warehouse at `home`."""
    con = duckdb.connect()
    create_views(con, WarehouseLayout(home), CONFIG)
    return con


def parquet_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


@pytest.fixture(scope="module")
def ls(labelstudio: Server) -> Iterator:
    """An SDK client without keep-alive: Django's server stalls ~40 ms per reused connection."""
    settings, _ = labelstudio
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=60, limits=limits) as http:
        yield client(settings, http=http)


@pytest.fixture(scope="module")
def projects(ls) -> Iterator[list[int]]:
    """Ids of the projects the tests create, all deleted at the end."""
    created: list[int] = []
    yield created
    for project_id in created:
        with contextlib.suppress(Exception):
            ls.projects.delete(project_id)


def new_project(ls, projects: list[int], name: str) -> tuple[str, int]:
    title = f"bayesline test {name} {uuid.uuid4().hex[:8]}"
    project_id = ensure_project(ls, title, INTERFACE, overlap=3)
    projects.append(project_id)
    return title, project_id


def server_annotation_ids(ls, project_id: int) -> list[int]:
    tasks = ls.tasks.list(project=project_id, fields="all", page_size=500)
    return [a["id"] for task in tasks for a in task.annotations or []]


@dataclass(frozen=True)
class Annotated:
    project_id: int
    examples: list[QueuedExample]
    gold: dict[str, str]
    created: int
    stored: Path
    first_sync: SyncResult


@pytest.fixture(scope="module")
def annotated(ls, projects: list[int], tmp_path_factory: pytest.TempPathFactory) -> Annotated:
    """N_TASKS tasks, each labelled by the three simulated annotators, synced once."""
    _, project_id = new_project(ls, projects, "baseline")
    examples = queued(N_TASKS)
    gold = gold_of(examples)
    push_tasks(ls, project_id, examples, SPLIT_VERSION)
    created = simulate_annotations(ls, project_id, gold, LABELS, PLANTED, seed=SEED)
    home = tmp_path_factory.mktemp("synced")
    stored = synced_dir(home)
    first = sync_annotations(ls, project_id, WarehouseLayout(home))
    return Annotated(project_id, examples, gold, created, stored, first)


def human_annotations_view(stored: Path, examples: list[QueuedExample], tmp: Path):
    """The warehouse views over the synced `stored` (human_annotations: latest edit wins), with a
    `splits` table holding the gold labels."""
    gold = gold_of(examples)
    splits = pa.table(
        {
            "version": pa.array([SPLIT_VERSION] * len(examples), pa.int32()),
            "split": [e.split for e in examples],
            "example_id": [e.example_id for e in examples],
            "label": [gold[e.example_id] for e in examples],
            "device": [e.slice_value for e in examples],
        }
    )
    pq.write_table(splits, tmp / "splits.parquet")
    con = warehouse_views(stored.parents[2])
    splits_file = tmp / "splits.parquet"
    con.execute(f"CREATE OR REPLACE VIEW splits AS SELECT * FROM read_parquet('{splits_file}')")
    return con


@pytest.mark.labelstudio
def test_a_baseline_project_is_blind_with_three_annotators_per_task(ls, projects) -> None:
    title, project_id = new_project(ls, projects, "blind")
    assert ensure_project(ls, title, INTERFACE, overlap=3) == project_id
    ls.projects.update(project_id, show_collab_predictions=True, maximum_annotations=1)
    assert ensure_project(ls, title, INTERFACE, overlap=3) == project_id  # and made blind again
    project = ls.projects.get(project_id)
    assert (project.maximum_annotations, project.overlap_cohort_percentage) == (3, 100)
    assert project.show_skip_button is True
    assert project.show_annotation_history is False
    assert project.show_collab_predictions is False
    assert project.evaluate_predictions_automatically is False
    assert project.enable_empty_annotation is False
    assert project.label_config == INTERFACE
    push_tasks(ls, project_id, queued(4), SPLIT_VERSION)
    tasks = list(ls.tasks.list(project=project_id, fields="all"))
    assert [t.overlap for t in tasks] == [3] * 4
    assert all(not t.predictions for t in tasks)
    assert {frozenset(t.data) for t in tasks} == {
        frozenset({"text", "example_id", "slice", "split_version", "priority"})
    }
    ls.projects.import_predictions(
        project_id,
        request=[{"task": tasks[0].id, "result": choice_result("pos"), "model_version": "leaky"}],
    )
    with pytest.raises(BlindProjectError, match="predictions"):
        ensure_project(ls, title, INTERFACE, overlap=3)


@pytest.mark.labelstudio
def test_pushing_the_same_examples_again_imports_nothing_even_without_our_record(
    ls, projects, tmp_path: Path
) -> None:
    _, project_id = new_project(ls, projects, "push")
    examples = queued(20)
    first = push_tasks(ls, project_id, examples, SPLIT_VERSION, batch_size=7)
    assert (first.pushed, first.skipped_existing, len(first.task_ids)) == (20, 0, 20)
    rows = queued_record_rows(first, examples, SPLIT_VERSION, datetime.now(UTC))
    assert list(rows[0]) == list(LABELING_QUEUE_COLUMNS)
    assert {r["task_id"] for r in rows} == set(first.task_ids.values())
    record = write_local_records(LABELING_QUEUE_COLUMNS, rows, tmp_path / "queued.parquet")
    again = push_tasks(ls, project_id, examples, SPLIT_VERSION)
    assert (again.pushed, again.skipped_existing) == (0, 20)
    record.unlink()  # our record is lost, as after a crash between import and record
    after_loss = push_tasks(ls, project_id, [*examples, *queued(22)[20:]], SPLIT_VERSION)
    assert (after_loss.pushed, after_loss.skipped_existing) == (2, 20)
    assert {k: after_loss.task_ids[k] for k in first.task_ids} == first.task_ids
    assert len(list(ls.tasks.list(project=project_id, fields="task_only"))) == 22


@pytest.mark.labelstudio
def test_simulated_annotators_are_recovered_within_their_intervals(
    annotated: Annotated, tmp_path: Path
) -> None:
    assert annotated.created == len(PLANTED) * N_TASKS
    assert annotated.first_sync.new_rows == annotated.created
    con = human_annotations_view(annotated.stored, annotated.examples, tmp_path)
    stored = con.execute(
        "SELECT count(*), count(DISTINCT annotation_id), bool_and(simulated), "
        "list(DISTINCT annotator ORDER BY annotator) FROM human_annotations"
    ).fetchone()
    assert stored == (
        annotated.created,
        annotated.created,
        True,
        sorted(simulated_email(name) for name in PLANTED),
    )
    overall = compute_human_baselines(con, CONFIG, SPLIT_VERSION)[0]
    assert (overall["slice_column"], overall["n_examples"], overall["simulated"]) == (
        "overall",
        N_TASKS,
        True,
    )
    errors = json.loads(overall["annotator_errors"])
    for name, rate in PLANTED.items():
        low, high = errors[simulated_email(name)]["ci"]
        assert low <= rate <= high, (name, errors[simulated_email(name)])
        others = [r for n, r in PLANTED.items() if n != name]
        assert not any(low <= r <= high for r in others), (name, errors[simulated_email(name)])


@pytest.mark.labelstudio
def test_a_sync_stores_only_what_is_new_and_an_edit_once(
    ls, annotated: Annotated, tmp_path: Path
) -> None:
    layout = WarehouseLayout(tmp_path)
    stored = synced_dir(tmp_path)
    shutil.copytree(annotated.stored, stored)
    files = parquet_files(stored)
    cursor = stored_cursor(layout)
    assert not has_new_annotations(ls, annotated.project_id, cursor)
    nothing = sync_annotations(ls, annotated.project_id, layout)
    assert (nothing.new_rows, nothing.cursor_after, parquet_files(stored)) == (0, cursor, files)

    con = human_annotations_view(stored, annotated.examples, tmp_path)
    annotation_id, label = con.execute(
        "SELECT annotation_id, label FROM human_annotations ORDER BY annotation_id LIMIT 1"
    ).fetchone()
    flipped = next(other for other in LABELS if other != label)
    edited = ls.annotations.get(annotation_id).result
    edited[0]["value"] = {"choices": [flipped]}
    ls.annotations.update(annotation_id, result=edited)
    assert has_new_annotations(ls, annotated.project_id, cursor)

    once = sync_annotations(ls, annotated.project_id, layout)
    twice = sync_annotations(ls, annotated.project_id, layout)
    assert (once.new_rows, twice.new_rows) == (1, 0)
    assert once.cursor_after is not None and cursor is not None  # both syncs stored rows
    assert once.cursor_after > cursor
    con = human_annotations_view(stored, annotated.examples, tmp_path)
    assert con.execute(
        "SELECT label, count(*) OVER () FROM human_annotations WHERE annotation_id = ?",
        [annotation_id],
    ).fetchone() == (flipped, 1)
    assert con.execute("SELECT count(*) FROM human_annotations").fetchone()[0] == annotated.created


@pytest.mark.labelstudio
def test_a_sync_during_an_outage_writes_nothing_and_the_next_one_catches_up(
    labelstudio: Server, ls, projects, tmp_path: Path
) -> None:
    settings, _ = labelstudio
    _, project_id = new_project(ls, projects, "outage")
    examples = queued(30)
    gold = gold_of(examples)
    push_tasks(ls, project_id, examples, SPLIT_VERSION)
    layout = WarehouseLayout(tmp_path)
    stored = synced_dir(tmp_path)
    simulate_annotations(ls, project_id, gold, LABELS, {"ann_a": 0.1}, seed=SEED)
    assert sync_annotations(ls, project_id, layout).new_rows == 30
    assert simulate_annotations(ls, project_id, gold, LABELS, {"ann_a": 0.1}, seed=SEED) == 0
    simulate_annotations(ls, project_id, gold, LABELS, {"ann_b": 0.2}, seed=SEED)
    files = parquet_files(stored)
    stop(settings)
    try:
        with pytest.raises(LabelStudioUnavailable, match="after 3 attempts"):
            sync_annotations(ls, project_id, layout, retries=2, backoff_s=0.1)
        assert parquet_files(stored) == files
    finally:
        start(settings)
    caught_up = sync_annotations(ls, project_id, layout)
    assert (caught_up.new_rows, caught_up.attempts) == (30, 1)
    assert sync_annotations(ls, project_id, layout).new_rows == 0
    on_server = server_annotation_ids(ls, project_id)
    assert len(on_server) == 60
    with warehouse_views(tmp_path) as con:
        view = "SELECT annotation_id FROM human_annotations"
        assert sorted(row[0] for row in con.execute(view).fetchall()) == sorted(on_server)
        batches = f"read_parquet('{stored}/annotations-*.parquet')"
        raw = f"SELECT count(*), count(DISTINCT annotation_id) FROM {batches}"
        assert con.execute(raw).fetchone() == (60, 60)  # every annotation stored exactly once


def test_reading_annotations_before_any_sync_gives_an_empty_typed_table(tmp_path: Path) -> None:
    with warehouse_views(tmp_path) as con:
        result = con.execute("SELECT * FROM human_annotations")
        assert [column[0] for column in result.description] == list(HUMAN_ANNOTATION_COLUMNS)
        assert result.fetchall() == []
    assert stored_cursor(WarehouseLayout(tmp_path)) is None


def test_simulated_labels_are_reproducible_and_err_only_to_other_labels() -> None:
    labels = ("a", "b", "c")
    draws = [simulated_label("a", labels, 0.5, random.Random(f"7/x/{i}")) for i in range(400)]
    again = [simulated_label("a", labels, 0.5, random.Random(f"7/x/{i}")) for i in range(400)]
    assert draws == again
    assert 150 < sum(d != "a" for d in draws) < 250
    assert {d for d in draws if d != "a"} == {"b", "c"}
    assert all(simulated_label("a", labels, 0.0, random.Random(i)) == "a" for i in range(50))


def test_transient_errors_are_retried_and_others_are_not() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("refused")
        return "ok"

    assert with_retries(flaky, retries=5, backoff_s=0.001) == ("ok", 3)
    with pytest.raises(LabelStudioUnavailable, match="after 2 attempts"):
        with_retries(lambda: (_ for _ in ()).throw(httpx.ReadTimeout("slow")), 1, 0.001)
    with pytest.raises(ValueError):
        with_retries(lambda: int("not a number"), retries=5, backoff_s=0.001)
