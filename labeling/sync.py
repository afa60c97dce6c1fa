"""Annotations from Label Studio into the lake: incremental, append-only, never half-written.

The cursor is the newest `updated_at` already stored. Label Studio bumps a task's `updated_at`
whenever one of its annotations is saved, so a Data Manager filter on it returns, server-side,
every task that can hold a newer annotation. The fetch reaches back LOOKBACK before the cursor,
so an annotation whose transaction committed late is still seen; rows already stored with the
same (annotation_id, updated_at) are dropped, so nothing is stored twice. An edited annotation
is stored again, newer: readers keep the latest version of each annotation_id.

Everything is fetched before anything is written, and a batch appears by an atomic rename: an
outage leaves the lake as it was, and the next sync resumes from the same cursor. Deleting an
annotation in Label Studio does not delete it here.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import httpx
from label_studio_sdk.core.api_error import ApiError

from labeling.server_settings import LabelStudioError
from labeling.simulate import is_simulated
from labeling.tasks import NO_SDK_RETRIES, PAGE_SIZE, naive_utc
from warehouse.lake_tables import HUMAN_ANNOTATIONS
from warehouse.layout import WarehouseLayout
from warehouse.pause_points import pause_point
from warehouse.storage import lake_files, parquet_files_sql, write_lake_records

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

LOOKBACK = timedelta(minutes=5)
BATCH_GLOB = "annotations-*.parquet"
_DM_DATETIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # the format Label Studio's Data Manager filters parse
T = TypeVar("T")


class LabelStudioUnavailable(LabelStudioError):
    """Label Studio did not answer (connection refused, timeout, 5xx) after every retry."""


@dataclass(frozen=True)
class SyncResult:
    new_rows: int
    cursor_before: datetime | None
    cursor_after: datetime | None
    attempts: int
    path: Path | None = None  # the batch written, if any


def _tasks_query(since: datetime | None, annotated_only: bool = False) -> str | None:
    """A Data Manager query for tasks updated after `since`, or (None) every task."""
    items = []
    if since is not None:
        value = naive_utc(since).strftime(_DM_DATETIME)
        items.append(_dm_filter("updated_at", "Datetime", value))
    elif annotated_only:
        items.append(_dm_filter("total_annotations", "Number", 0))
    if not items:
        return None
    return json.dumps({"filters": {"conjunction": "and", "items": items}})


def _dm_filter(column: str, kind: str, value: Any) -> dict[str, Any]:
    return {"filter": f"filter:tasks:{column}", "operator": "greater", "type": kind, "value": value}


def _annotator_emails(client: LabelStudio) -> dict[int, str]:
    """user id -> email of the organisation's members (empty when the key may not list them)."""
    try:
        return {int(u.id): u.email for u in client.users.list(request_options=NO_SDK_RETRIES)}
    except ApiError as exc:
        if exc.status_code in (401, 403):
            return {}
        raise


def _label(result: Iterable[Mapping[str, Any]]) -> str | None:
    """The chosen Choice of an annotation result (None when skipped or empty)."""
    for item in result:
        if item.get("type") == "choices":
            choices = (item.get("value") or {}).get("choices") or []
            return str(choices[0]) if choices else None
    return None


def _row(task: Any, annotation: Mapping[str, Any], emails: Mapping[int, str]) -> dict[str, Any]:
    """One HUMAN_ANNOTATION_COLUMNS row."""
    user = annotation.get("completed_by")
    user = user.get("id") if isinstance(user, dict) else user
    annotator = None if user is None else emails.get(int(user), str(user))
    result = annotation.get("result") or []
    example_id = (task.data or {}).get("example_id")
    return {
        "task_id": int(task.id),
        "annotation_id": int(annotation["id"]),
        "example_id": None if example_id is None else str(example_id),
        "annotator": annotator,
        "label": None if annotation.get("was_cancelled") else _label(result),
        "lead_time_s": annotation.get("lead_time"),
        "created_at": naive_utc(annotation.get("created_at")),
        "updated_at": naive_utc(annotation.get("updated_at")),
        "simulated": is_simulated(result, annotator),
    }


def _updated_tasks(
    client: LabelStudio,
    project_id: int,
    since: datetime | None,
    page_size: int = PAGE_SIZE,
    annotated_only: bool = False,
) -> Iterable[Any]:
    """The project's tasks (with annotations) updated after `since`, page by page."""
    return client.tasks.list(
        project=project_id,
        fields="all",
        query=_tasks_query(since, annotated_only),
        page_size=page_size,
        request_options=NO_SDK_RETRIES,  # sync_annotations retries, with its own backoff
    )


def fetch_annotations(
    client: LabelStudio, project_id: int, since: datetime | None
) -> list[dict[str, Any]]:
    """HUMAN_ANNOTATION_COLUMNS rows of the annotations updated after `since` (naive UTC)."""
    since = naive_utc(since)
    emails = _annotator_emails(client)
    rows = [
        _row(task, annotation, emails)
        for task in _updated_tasks(client, project_id, since)
        for annotation in task.annotations or []
    ]
    fresh = [r for r in rows if since is None or r["updated_at"] > since]
    return sorted(fresh, key=lambda r: (r["updated_at"], r["annotation_id"]))


def has_new_annotations(
    client: LabelStudio, project_id: int, since: datetime | None, retries: int = 0
) -> bool:
    """Whether an annotation was created or edited after `since` (cheap: for a sensor).

    Raises LabelStudioUnavailable when Label Studio does not answer (after `retries`).
    """
    since = naive_utc(since)

    def check() -> bool:
        # A task's updated_at trails its annotations' by milliseconds, so the task filter alone
        # would always find the newest synced one again: compare the annotations themselves.
        tasks = _updated_tasks(client, project_id, since, page_size=50, annotated_only=True)
        return any(
            since is None or naive_utc(annotation.get("updated_at")) > since
            for task in tasks
            for annotation in task.annotations or []
        )

    return with_retries(check, retries=retries, backoff_s=1.0)[0]


def _transient(exc: Exception) -> bool:
    """Whether an error means "try again later": no connection, a timeout, 5xx, 408, 429."""
    if isinstance(exc, httpx.TransportError):
        return True
    if not isinstance(exc, ApiError) or exc.status_code is None:
        return False
    return exc.status_code >= 500 or exc.status_code in (408, 429)


def _describe(exc: BaseException) -> str:
    """An error in a few words: never the SDK's dump of headers and body."""
    if isinstance(exc, ApiError):
        return f"HTTP {exc.status_code}"
    return f"{type(exc).__name__}: {exc}"


def with_retries(call: Callable[[], T], retries: int, backoff_s: float) -> tuple[T, int]:
    """(result, attempts) of `call`, retried with exponential backoff on transient errors."""
    attempt, waited = 1, 0.0
    while True:
        try:
            return call(), attempt
        except Exception as exc:
            if not _transient(exc):
                raise
            if attempt > retries:
                raise LabelStudioUnavailable(
                    f"Label Studio did not answer after {attempt} attempts over {waited:.1f} s "
                    f"(last error: {_describe(exc)}); nothing was written, and the next sync "
                    "resumes from the stored cursor. Is the server running?"
                ) from exc
        pause = backoff_s * 2 ** (attempt - 1)
        time.sleep(pause)
        waited += pause
        attempt += 1


def _query_batches(
    layout: WarehouseLayout, query: str, params: list[Any]
) -> list[tuple[Any, ...]] | None:
    """Run `query` over `batches` (the stored batches of the layout's human_annotations
    table); None when there are none yet."""
    pattern = layout.table_dir(HUMAN_ANNOTATIONS) / BATCH_GLOB
    with duckdb.connect() as con:
        files = lake_files(con, layout, pattern)
        if not files:
            return None
        return con.execute(query.format(batches=parquet_files_sql(files)), params).fetchall()


def stored_cursor(layout: WarehouseLayout) -> datetime | None:
    """The newest updated_at stored in the layout's lake (None before the first sync)."""
    rows = _query_batches(layout, "SELECT max(updated_at) FROM {batches}", [])
    newest: datetime | None = rows[0][0] if rows else None
    return newest


def _stored_versions(layout: WarehouseLayout, since: datetime | None) -> set[tuple[int, datetime]]:
    """(annotation_id, updated_at) pairs stored with updated_at after `since`."""
    query = (
        "SELECT DISTINCT annotation_id, updated_at FROM {batches} WHERE ? IS NULL OR updated_at > ?"
    )
    rows = _query_batches(layout, query, [since, since]) or []
    return {(int(a), u) for a, u in rows}


def sync_annotations(
    client: LabelStudio,
    project_id: int,
    layout: WarehouseLayout,
    retries: int = 5,
    backoff_s: float = 1.0,
    lookback: timedelta = LOOKBACK,
) -> SyncResult:
    """Store the annotations created or edited since the last sync as one new Parquet batch
    of the layout's human_annotations table (lake/labeling/annotations/)."""
    cursor = stored_cursor(layout)
    since = None if cursor is None else cursor - lookback
    fetched, attempts = with_retries(
        lambda: fetch_annotations(client, project_id, since), retries, backoff_s
    )
    seen = _stored_versions(layout, since)
    rows = []
    for row in fetched:
        key = (row["annotation_id"], row["updated_at"])
        if key not in seen:
            seen.add(key)
            rows.append(row)
    pause_point("labeling.annotations_fetched")
    path = None
    if rows:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"annotations-{stamp}-{uuid.uuid4().hex[:8]}.parquet"
        path = layout.table_dir(HUMAN_ANNOTATIONS) / name
        write_lake_records(layout, HUMAN_ANNOTATIONS.columns, rows, path, immutable=True)
    newest = [cursor] if cursor else []
    cursor_after = max(newest + [r["updated_at"] for r in rows], default=None)
    return SyncResult(len(rows), cursor, cursor_after, attempts, path)
