"""Blind baseline projects in Label Studio, and queued examples pushed to them exactly once.

A baseline project measures how well people label, so it shows people nothing that could sway
them: no predictions (none are ever imported), no other annotator's work, no gold label (tasks
carry only the payload and the ids to map them back). Each task is labelled by `overlap`
annotators. Pushing first lists the example ids already in the project, so a crash between the
import and our own record, or a lost record, never duplicates a task.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from deployment.errors import BayeslineError
from labeling.queue import ImageServing, QueuedExample

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.request_options import RequestOptions

QUEUE = "baseline"
PAGE_SIZE = 500
# The SDK replays a request after a dropped connection or a 5xx; an import that reached the
# server before the connection dropped would then be imported twice. Callers rerun instead.
NO_SDK_RETRIES: RequestOptions = {"max_retries": 0}


class BlindProjectError(BayeslineError, ValueError):
    """A project with the baseline's title exists but is not blind."""


@dataclass(frozen=True)
class PushResult:
    """What one push did; `task_ids` maps every example given to its task, new or not."""

    project_id: int
    pushed: int
    skipped_existing: int
    task_ids: dict[str, int]


def blind_settings(overlap: int) -> dict[str, Any]:
    """Project fields of a blind baseline project with `overlap` annotators per task."""
    if overlap < 1:
        raise ValueError(f"overlap must be at least 1, not {overlap}")
    return {
        "maximum_annotations": overlap,
        "overlap_cohort_percentage": 100,  # the overlap applies to every task, not a sample
        "show_skip_button": True,
        "show_annotation_history": False,
        "show_collab_predictions": False,
        "evaluate_predictions_automatically": False,
        "enable_empty_annotation": False,  # an empty annotation says nothing about the label
    }


def find_project(client: LabelStudio, title: str) -> int | None:
    """The id of the oldest project titled exactly `title`, if any."""
    # The title filter matches substrings, case-insensitively: compare exactly here.
    projects: Iterable[Any] = client.projects.list(title=title, page_size=PAGE_SIZE)
    ids = [p.id for p in projects if p.id is not None and p.title == title]
    return min(ids) if ids else None


def ensure_project(client: LabelStudio, title: str, label_config: str, overlap: int = 3) -> int:
    """The id of the blind baseline project `title`, created or brought back to blind settings."""
    settings = blind_settings(overlap)
    project_id = find_project(client, title)
    if project_id is None:
        created = client.projects.create(title=title, label_config=label_config, **settings).id
        if created is None:
            raise BlindProjectError(f"Label Studio created project {title!r} without an id")
        return created
    project = client.projects.get(project_id)
    if project.total_predictions_number:
        raise BlindProjectError(
            f"Label Studio project {title!r} (id {project_id}) holds "
            f"{project.total_predictions_number} predictions, so its annotators were not blind: "
            "delete the predictions (Data Manager > Actions) or choose another project title"
        )
    changes = {k: v for k, v in settings.items() if getattr(project, k, None) != v}
    if project.label_config != label_config:
        changes["label_config"] = label_config
    if changes:  # only when someone changed them: the sensor calls this every minute
        client.projects.update(project_id, **changes)
    return project_id


def ensure_local_storage(client: LabelStudio, project_id: int, folder: Path) -> None:
    """Let the project serve image files under `folder` (inside the document root)."""
    wanted = str(folder.resolve())
    if any(s.path == wanted for s in client.import_storage.local.list(project=project_id)):
        return
    client.import_storage.local.create(
        project=project_id, path=wanted, title="Bayesline images", use_blob_urls=True
    )


def existing_tasks(client: LabelStudio, project_id: int) -> dict[str, int]:
    """example_id -> task id of every task in the project (one paginated listing)."""
    tasks: Iterable[Any] = client.tasks.list(
        project=project_id, fields="task_only", include="id,data", page_size=PAGE_SIZE
    )
    found: dict[str, int] = {}
    for task in tasks:
        example_id = (task.data or {}).get("example_id")
        if example_id is not None:
            found.setdefault(str(example_id), int(task.id))
    return found


def _unique(examples: Iterable[QueuedExample]) -> list[QueuedExample]:
    """The examples with each example id once (the first wins), in order."""
    first: dict[str, QueuedExample] = {}
    for example in examples:
        first.setdefault(example.example_id, example)
    return list(first.values())


def _chunks(items: Sequence[QueuedExample], size: int) -> Iterator[Sequence[QueuedExample]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _import_batch(
    client: LabelStudio,
    project_id: int,
    batch: Sequence[QueuedExample],
    split_version: int,
    images: ImageServing | None,
) -> dict[str, int]:
    """Import one batch of tasks; example_id -> new task id."""
    response = client.projects.import_tasks(
        project_id,
        # The SDK types each task as an ImportApiRequest model; it sends plain dicts as they are.
        request=[example.task(split_version, images) for example in batch],  # type: ignore[misc]
        return_task_ids=True,
        request_options=NO_SDK_RETRIES,
    )
    # return_task_ids=True adds task_ids to the answer, a field the SDK's model leaves out.
    ids = response.task_ids or []  # type: ignore[attr-defined]
    if len(ids) == len(batch):  # Label Studio creates the tasks in request order
        return {example.example_id: int(i) for example, i in zip(batch, ids, strict=True)}
    wanted = {example.example_id for example in batch}
    return {k: v for k, v in existing_tasks(client, project_id).items() if k in wanted}


def push_tasks(
    client: LabelStudio,
    project_id: int,
    examples: list[QueuedExample],
    split_version: int,
    batch_size: int = 1000,
    images: ImageServing | None = None,
) -> PushResult:
    """Bulk-import the examples that are not tasks of the project yet, in batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    unique = _unique(examples)
    existing = existing_tasks(client, project_id)
    task_ids = {e.example_id: existing[e.example_id] for e in unique if e.example_id in existing}
    new = [e for e in unique if e.example_id not in existing]
    for batch in _chunks(new, batch_size):
        task_ids.update(_import_batch(client, project_id, batch, split_version, images))
    return PushResult(project_id, len(new), len(unique) - len(new), task_ids)


@overload
def naive_utc(value: datetime | str) -> datetime: ...
@overload
def naive_utc(value: None) -> None: ...
def naive_utc(value: datetime | str | None) -> datetime | None:
    """An API timestamp (ISO string or datetime) as naive UTC, as the lake stores it."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def queued_record_rows(
    result: PushResult,
    examples: Iterable[QueuedExample],
    split_version: int,
    queued_at: datetime,
) -> list[dict[str, Any]]:
    """LABELING_QUEUE_COLUMNS rows for every example that is a task now (new or found there)."""
    return [
        {
            "example_id": e.example_id,
            "task_id": result.task_ids[e.example_id],
            "project_id": result.project_id,
            "queue": QUEUE,
            "split": e.split,
            "slice_column": e.slice_column,
            "slice_value": e.slice_value,
            "priority": float(e.priority),
            "split_version": split_version,
            "queued_at": naive_utc(queued_at),
        }
        for e in _unique(examples)
        if e.example_id in result.task_ids
    ]
