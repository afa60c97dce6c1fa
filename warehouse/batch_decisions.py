"""What people decided about ingested batches (landing files) that the quality gate blocked.

A batch that could not be read, loaded no rows, or rejected too many of its rows blocks
publishing until a person decides about it:

- exclude: its rows stay in `examples` (nothing is deleted) but no later split version holds
  them; the version's manifest lists the batch and the reason;
- accept: its good rows go into the next versions despite the reject rate.

Every decision is a small Parquet file under lake/batch_decisions/, kept forever (the SQL view
`batch_decisions`); the newest one per batch is in force (the view `batches`).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Literal, TypedDict

import duckdb

from deployment.errors import BayeslineError
from deployment.settings import login_user
from warehouse.config import DatasetConfig
from warehouse.layout import WarehouseLayout
from warehouse.revisions import current_examples_sql
from warehouse.schema import BATCH_DECISION_COLUMNS
from warehouse.split_manifest import BatchDecisionsJson
from warehouse.storage import (
    create_rows_table,
    lake_files,
    parquet_files_sql,
    write_lake_records,
)

Decision = Literal["exclude", "accept"]
#: A decided batch's state while its decision is in force.
DecidedState = Literal["excluded", "accepted"]
#: decision -> the batch's state while it is in force
DECISION_STATES: dict[Decision, DecidedState] = {"exclude": "excluded", "accept": "accepted"}
#: A batch's share of rejected rows, as the quality gate judges it and `batches` shows it.
#: Rows already in the warehouse (a cumulative export repeating yesterday's rows) are neither
#: good nor bad news about a file: the rate is over the rows it delivered anew.
REJECT_RATE_SQL = (
    "round(rows_rejected / nullif(rows_read - coalesce(rows_already_present, 0), 0), 4)"
)
#: Rows of a batch that the warehouse holds: loaded, or identical to an example already stored
#: (a cumulative export with nothing new still delivered good rows).
ROWS_HELD_SQL = "rows_loaded + coalesce(rows_already_present, 0)"
EXCLUDE_COMMAND = "bayesline batches exclude FILE --reason '...'"
ACCEPT_COMMAND = "bayesline batches accept FILE --reason '...'"


class BatchDecisionError(BayeslineError, ValueError):
    """A decision cannot be recorded; the message says what to do instead."""


class IngestedBatch(TypedDict):
    """A batch as its `ingested_files` record names it."""

    file_id: str
    source: str
    file_path: str
    ingested_at: datetime


class DecisionInForce(TypedDict):
    decision: Decision
    reason: str


@dataclass(frozen=True)
class DecisionOutcome:
    file_id: str
    name: str  # source/file under landing/
    decision: str
    recorded: bool  # False when the same decision with the same reason was already in force

    @property
    def message(self) -> str:
        verb = "excluded from" if self.decision == "exclude" else "accepted into"
        if not self.recorded:
            return f"{self.name} ({self.file_id}) was already {verb} the next split versions"
        then = "without its rows" if self.decision == "exclude" else "with its good rows"
        return (
            f"{self.name} ({self.file_id}) is {verb} the next split versions; the next "
            f"`bayesline materialize` publishes {then}"
        )


def latest_decisions_sql(decisions: str = "batch_decisions") -> str:
    """The decision in force per batch: the newest one."""
    return (
        f"SELECT * FROM {decisions} "
        "QUALIFY row_number() OVER (PARTITION BY file_id ORDER BY decided_at DESC) = 1"
    )


#: Batches someone decided about: the gate judges every other batch.
DECIDED_FILE_IDS_SQL = "SELECT DISTINCT file_id FROM batch_decisions"
#: Batches whose rows no split version may hold.
EXCLUDED_FILE_IDS_SQL = f"SELECT file_id FROM ({latest_decisions_sql()}) WHERE decision = 'exclude'"


def batches_view_sql(max_reject_rate: float) -> str:
    """The `batches` view: one row per ingested batch, its counts, why it would block
    publishing (`problem`, NULL when it would not) and its state: ok, blocking (nobody has
    decided yet), excluded or accepted."""
    rate = REJECT_RATE_SQL
    limit = repr(float(max_reject_rate))
    return f"""
        WITH latest AS ({latest_decisions_sql()}),
        judged AS (
            SELECT *, {rate} AS reject_rate,
                   CASE WHEN status <> 'loaded' THEN 'unreadable: ' || coalesce(reason, status)
                        WHEN {ROWS_HELD_SQL} < 1 THEN 'no rows loaded'
                        WHEN {rate} > {limit} THEN 'reject rate ' || {rate}
                             || ' is above max_batch_reject_rate ' || {limit}
                   END AS problem
            FROM ingested_files
        )
        SELECT f.file_id, f.source, f.file_path, f.status, f.rows_read, f.rows_loaded,
               f.rows_rejected, f.reject_rate, f.problem,
               CASE WHEN d.decision IS NOT NULL
                        THEN CASE d.decision WHEN 'exclude' THEN 'excluded' ELSE 'accepted' END
                    WHEN f.problem IS NOT NULL THEN 'blocking'
                    ELSE 'ok' END AS state,
               d.decision, d.reason AS decision_reason, d.decided_by, d.decided_at,
               f.ingested_at
        FROM judged AS f LEFT JOIN latest AS d USING (file_id)
        ORDER BY f.ingested_at, f.file_id
    """


def landing_name(source: str, file_path: str) -> str:
    """A landing file as people name it: its path under landing/ (source/file.csv)."""
    parts = PurePath(file_path).parts
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] == source and parts[i - 1] == "landing":
            return "/".join(parts[i:])
    return file_path


def record_batch_decision(
    layout: WarehouseLayout,
    file: str,
    decision: str,
    reason: str,
    decided_by: str | None = None,
    now: datetime | None = None,
) -> DecisionOutcome:
    """Record that `decision` ("exclude" or "accept") holds for the batch `file` (a landing
    path, a path under landing/, a file name or a file id), with who decided and why.

    Idempotent: the same decision with the same reason again records nothing.
    """
    if decision not in DECISION_STATES:
        raise BatchDecisionError(f"unknown decision '{decision}': use exclude or accept")
    reason = (reason or "").strip()
    if not reason:
        raise BatchDecisionError("say why with --reason '...': every decision keeps its reason")
    with duckdb.connect() as con:
        batch = find_batch(con, layout, file)
        in_force = _decision_in_force(con, layout, batch["file_id"])
    name = landing_name(batch["source"], batch["file_path"])
    if in_force and (in_force["decision"], in_force["reason"]) == (decision, reason):
        return DecisionOutcome(batch["file_id"], name, decision, recorded=False)
    decided_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    record = {
        **{key: batch[key] for key in ("file_id", "source", "file_path")},
        "decision": decision,
        "reason": reason,
        "decided_by": (decided_by or "").strip() or current_user(),
        "decided_at": decided_at,
    }
    path = layout.batch_decisions_dir / f"{decided_at:%Y%m%dT%H%M%S%f}-{batch['file_id']}.parquet"
    write_lake_records(layout, BATCH_DECISION_COLUMNS, [record], path, immutable=True)
    return DecisionOutcome(batch["file_id"], name, decision, recorded=True)


def current_user() -> str:
    """Who runs this process, for the record of a decision."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return login_user() or "unknown"


def find_batch(con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, file: str) -> IngestedBatch:
    """The ingested batch `file` names; a clear error when it names none or several."""
    records = lake_files(con, layout, layout.ingested_files_dir / "*.parquet")
    if not records:
        raise BatchDecisionError(
            f"no batch has been ingested into {layout.home} yet: run `bayesline materialize`"
        )
    rows = con.execute(
        f"SELECT file_id, source, file_path, ingested_at FROM {parquet_files_sql(records)} "
        "ORDER BY ingested_at, file_id"
    ).fetchall()
    batches: list[IngestedBatch] = [
        {"file_id": file_id, "source": source, "file_path": path, "ingested_at": at}
        for file_id, source, path, at in rows
    ]
    for matches in _matches_by_precision(batches, file, layout):
        if len(matches) == 1:
            return matches[0]
        if matches:
            listed = "; ".join(f"{b['file_id']} ({b['file_path']})" for b in matches)
            raise BatchDecisionError(
                f"'{file}' names {len(matches)} batches: {listed}. Give the file id instead."
            )
    raise BatchDecisionError(
        f"no ingested batch matches '{file}': `bayesline batches list` shows each batch's "
        "file and id"
    )


def _matches_by_precision(
    batches: list[IngestedBatch], file: str, layout: WarehouseLayout
) -> Iterator[list[IngestedBatch]]:
    """Candidates from the most precise reading of `file` to the loosest."""
    yield [b for b in batches if b["file_id"] == file]
    wanted = {str(Path(file).resolve()), str((layout.landing / file).resolve())}
    yield [b for b in batches if b["file_path"] in wanted]
    yield [b for b in batches if Path(b["file_path"]).name == Path(file).name]


def _decision_in_force(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, file_id: str
) -> DecisionInForce | None:
    load_decided_batches(con, layout)
    row = con.execute(
        "SELECT decision, reason FROM decided_batches WHERE file_id = ?", [file_id]
    ).fetchone()
    return {"decision": row[0], "reason": row[1]} if row else None


def load_decided_batches(con: duckdb.DuckDBPyConnection, layout: WarehouseLayout) -> None:
    """Temp table `decided_batches`: the decision in force per batch (read from the lake)."""
    files = lake_files(con, layout, layout.batch_decisions_dir / "*.parquet")
    if not files:
        create_rows_table(con, "decided_batches", BATCH_DECISION_COLUMNS, [])
        return
    decisions = parquet_files_sql(files)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE decided_batches AS {latest_decisions_sql(decisions)}"
    )


def examples_in_force_sql(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, dataset: DatasetConfig
) -> str:
    """The current revision of every example, leaving out excluded batches, as a relation.

    An excluded batch's revisions count as never delivered: an example it updated keeps the
    revision before it. Loads `decided_batches` on `con`, which `manifest_batch_decisions`
    reads afterwards.
    """
    return current_examples_sql(
        layout, dataset, excluding_file_ids_sql=excluded_batches_sql(con, layout)
    )


def excluded_batches_sql(con: duckdb.DuckDBPyConnection, layout: WarehouseLayout) -> str:
    """A query for the file ids of the batches excluded now (loads `decided_batches`)."""
    load_decided_batches(con, layout)
    return "SELECT file_id FROM decided_batches WHERE decision = 'exclude'"


def manifest_batch_decisions(con: duckdb.DuckDBPyConnection) -> BatchDecisionsJson:
    """For a version's manifest: the batches excluded from it and accepted into it, and why."""
    rows = con.execute(
        "SELECT decision, file_id, source, file_path, reason, decided_by, decided_at "
        "FROM decided_batches ORDER BY decided_at, file_id"
    ).fetchall()
    listed: BatchDecisionsJson = {"excluded": [], "accepted": []}
    for decision, file_id, source, file_path, reason, decided_by, decided_at in rows:
        listed[DECISION_STATES[decision]].append(
            {
                "file_id": file_id,
                "source": source,
                "file_path": file_path,
                "reason": reason,
                "decided_by": decided_by,
                "decided_at": decided_at.isoformat(),
            }
        )
    return listed
