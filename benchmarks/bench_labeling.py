"""Queueing 10,000 tasks into a real Label Studio, next to one raw bulk-import call.

Each stage starts its own managed Label Studio (fresh SQLite database, free port on 127.0.0.1,
data under the work directory) before the clock starts and stops it afterwards, so both stages
import into an equally empty server. The task count is fixed, whatever `--rows` says:
labelers get at most a few thousand tasks at a time. BAYESLINE_BENCH_TASKS shrinks it for tests.
When Label Studio cannot be installed here, both stages report "skipped". Tests point both
stages at their own running server instead (BAYESLINE_BENCH_LABELSTUDIO_URL and _API_KEY), so
they need not start two more.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from benchmarks.bench_pipeline import bench_config
from benchmarks.measure import StageSpec
from labeling.client import api_token, connect, labeling_url
from labeling.install import ensure_installed
from labeling.process import free_local_port, start, stop
from labeling.queue import QueuedExample, labeling_interface
from labeling.server_settings import LabelStudioInstallError, LabelStudioSettings

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

DEFAULT_TASKS = 10_000
PROJECT_TITLE = "Bayesline benchmark"  # each stage's project adds its name and a random tag
SPLIT_VERSION = 1
IMPORT_TIMEOUT_S = 600  # Label Studio imports 10,000 tasks in one request, slowly
# A running Label Studio to use instead of starting one per stage (for tests). Deliberately
# not LABEL_STUDIO_URL: a benchmark must never push its tasks into someone's real server.
SHARED_URL_ENV = "BAYESLINE_BENCH_LABELSTUDIO_URL"
SHARED_KEY_ENV = "BAYESLINE_BENCH_LABELSTUDIO_API_KEY"

SPECS = [
    StageSpec(
        "labelstudio_queue_reference", "benchmarks.bench_labeling:labelstudio_queue_reference"
    ),
    StageSpec(
        "labelstudio_queue",
        "benchmarks.bench_labeling:labelstudio_queue",
        reference="labelstudio_queue_reference",
    ),
]


def task_count() -> int:
    return int(os.environ.get("BAYESLINE_BENCH_TASKS", DEFAULT_TASKS))


def prepare(work_dir: Path, rows: int) -> None:
    """Nothing to share: each stage starts its own server."""


def bench_examples(n: int) -> list[QueuedExample]:
    """n examples as the queue yields them: dev and test, four slice values, text payload."""
    return [
        QueuedExample(
            example_id=f"id{i}",
            split="dev" if i % 2 else "test",
            slice_column="slice_1",
            slice_value=f"v{i % 4}",
            priority=float(n - i),
            payload={"text": f"review number {i} says {i % 97}"},
        )
        for i in range(n)
    ]


def labelstudio_queue(work_dir: Path, rows: int) -> dict:
    """The labeling_queue asset's path: push_tasks in batches, then the queue's record."""
    from labeling.tasks import push_tasks, queued_record_rows
    from warehouse.schema import LABELING_QUEUE_COLUMNS
    from warehouse.storage import write_local_records

    examples = bench_examples(task_count())
    with _stage_server(work_dir, "queue") as settings:
        if settings is None:
            return _skipped()
        with connect(settings) as client:
            project_id = _new_project(client, "queue")
            started = time.perf_counter()
            result = push_tasks(client, project_id, examples, SPLIT_VERSION)
            records = queued_record_rows(result, examples, SPLIT_VERSION, datetime.now(UTC))
            out = settings.data_dir.parent / "queued.parquet"
            write_local_records(LABELING_QUEUE_COLUMNS, records, out)
            seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(examples), "pushed": result.pushed}


def labelstudio_queue_reference(work_dir: Path, rows: int) -> dict:
    """One raw POST /api/projects/{id}/import with every task, as a script would send it."""
    tasks = [example.task(SPLIT_VERSION) for example in bench_examples(task_count())]
    with _stage_server(work_dir, "reference") as settings:
        if settings is None:
            return _skipped()
        with connect(settings) as client:
            project_id = _new_project(client, "reference")
        headers = {"Authorization": f"Bearer {_access_token(settings)}"}
        url = _url(settings)
        with httpx.Client(base_url=url, headers=headers, timeout=IMPORT_TIMEOUT_S) as http:
            started = time.perf_counter()
            response = http.post(f"/api/projects/{project_id}/import", json=tasks)
            seconds = time.perf_counter() - started
        response.raise_for_status()  # the message names the URL and status, never the token
    return {"seconds": seconds, "rows": len(tasks), "pushed": response.json()["task_count"]}


def _new_project(client: LabelStudio, name: str) -> int:
    """A blind baseline project as the labeling_queue asset makes it, under a fresh title."""
    from labeling.tasks import ensure_project

    title = f"{PROJECT_TITLE} ({name} {uuid.uuid4().hex[:8]})"
    return ensure_project(client, title, labeling_interface(bench_config()))


def _access_token(settings: LabelStudioSettings) -> str:
    """Trade the stored personal access token (a JWT refresh token) for an access token."""
    response = httpx.post(
        f"{_url(settings)}/api/token/refresh/", json={"refresh": api_token(settings)}, timeout=30
    )
    response.raise_for_status()
    return response.json()["access"]


def _skipped() -> dict:
    return {"skipped": "Label Studio is not installable here (run `make labelstudio-install`)"}


def _url(settings: LabelStudioSettings) -> str:
    """Where the stage's clients go: the shared server when given, else the stage's own."""
    return labeling_url(settings)


@contextlib.contextmanager
def _stage_server(work_dir: Path, name: str) -> Iterator[LabelStudioSettings | None]:
    """A fresh managed Label Studio for one stage, or the shared one when given (tests); None
    when Label Studio cannot be installed here."""
    work_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"labelstudio-{name}-", dir=work_dir))
    (root / "home").mkdir()
    settings = LabelStudioSettings(
        data_dir=root / "data", port=free_local_port(), document_root=root / "home"
    )
    # The SDK client honours these two; this process is the stage's own, so setting them
    # (or dropping a developer's) reaches no one else.
    for variable in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"):
        os.environ.pop(variable, None)
    if os.environ.get(SHARED_URL_ENV):
        os.environ["LABEL_STUDIO_URL"] = os.environ[SHARED_URL_ENV]
        os.environ["LABEL_STUDIO_API_KEY"] = os.environ[SHARED_KEY_ENV]
        yield settings
        return
    try:
        ensure_installed(settings, progress=lambda _message: None)
    except LabelStudioInstallError:
        yield None
        return
    try:
        start(settings)
        yield settings
    finally:
        stop(settings)
