"""Re-delivered rows: every delivery of an example with new content is a revision, and the
newest revision is the example.

Source systems deliver rows again: a cumulative export repeats yesterday's rows, and a fix
upstream (a label corrected, a text cleaned) re-delivers an id with new content. Ingestion
stores only what is new. A row identical to the example's current revision is *already
present*: counted, not stored again, not a reject. A row with new content from the same source
is a new revision (or, with `[dataset] on_changed_row = "quarantine"`, a reject for someone to
review), stored with `previous_file_id`, the file holding the revision it replaces.

The lake keeps every revision (the `example_revisions` view); an example's current revision is
the one no other revision replaces (the `examples` view). Each revision names the one it
replaces, rather than revisions being ranked by time, so finding the current ones is an
anti-join against the few replaced revisions instead of a window over every example; and the
pointer is written in the same file as the revision, so a crash never leaves one without the
other.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from warehouse.config import BayeslineConfig, DatasetConfig
from warehouse.hashing import quote_literal
from warehouse.layout import WarehouseLayout
from warehouse.schema import example_columns
from warehouse.storage import lake_table_sql


def has_examples(layout: WarehouseLayout) -> bool:
    return bool(layout.store.files(layout.examples_dir / "*.parquet"))


def revisions_sql(layout: WarehouseLayout, dataset: DatasetConfig) -> str:
    """Every revision of every example ever stored (the lake must hold at least one file)."""
    files = layout.store.files(layout.examples_dir / "*.parquet")
    return lake_table_sql(files, example_columns(dataset))


def current_examples_sql(
    layout: WarehouseLayout,
    dataset: DatasetConfig,
    ignoring_file_id: str | None = None,
    excluding_file_ids_sql: str | None = None,
) -> str:
    """The current revision of every example: the revisions no other revision replaces.

    The rows of `ignoring_file_id` (what a crashed attempt at ingesting that file left) and of
    the files `excluding_file_ids_sql` selects (batches a person excluded) count as absent, and
    so do the replacements they made: the revision before theirs is current again.
    """
    revisions = revisions_sql(layout, dataset)
    kept = ["true"]
    if ignoring_file_id:
        kept.append(f"file_id <> {quote_literal(ignoring_file_id)}")
    if excluding_file_ids_sql:
        kept.append(f"file_id NOT IN ({excluding_file_ids_sql})")
    other_files = " AND ".join(kept)
    return f"""(
        SELECT r.* FROM (SELECT * FROM {revisions} WHERE {other_files}) AS r
        ANTI JOIN (SELECT example_id, previous_file_id AS file_id FROM {revisions}
                   WHERE previous_file_id IS NOT NULL AND {other_files}) AS replaced
        USING (example_id, file_id))"""


def example_revisions_sql(
    layout: WarehouseLayout, dataset: DatasetConfig, excluding_file_ids_sql: str | None = None
) -> str:
    """Every revision, numbered per example in the order they arrived, with the file of the
    revision that replaced it (NULL for the current one).

    A revision from a batch `excluding_file_ids_sql` selects is never current and replaces
    nothing, as in `current_examples_sql`.
    """
    revisions = revisions_sql(layout, dataset)
    in_force = f"file_id NOT IN ({excluding_file_ids_sql})" if excluding_file_ids_sql else "true"
    return f"""
        SELECT r.example_id,
               row_number() OVER (PARTITION BY r.example_id ORDER BY r.ingested_at, r.file_id)
                   AS revision,
               n.file_id IS NULL AND r.{in_force} AS is_current,
               n.file_id AS replaced_by_file_id,
               r.* EXCLUDE (example_id)
        FROM {revisions} AS r
        LEFT JOIN (SELECT example_id, previous_file_id, file_id FROM {revisions}
                   WHERE previous_file_id IS NOT NULL AND {in_force}) AS n
        ON n.example_id = r.example_id AND n.previous_file_id = r.file_id
    """


@dataclass(frozen=True)
class Redelivery:
    """How many valid rows of one landing file were already in the warehouse."""

    already_present: int = 0  # identical to the current revision: not stored again
    updated: int = 0  # new content for an id: stored as its new revision


def classify_redelivered_rows(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    config: BayeslineConfig,
    source: str,
    file_id: str,
    excluding_file_ids_sql: str | None = None,
) -> Redelivery:
    """Match the valid staged rows in `candidates` against the current examples.

    Rows of the batches `excluding_file_ids_sql` selects count as never delivered: a row that
    repeats one of them is new (or an update of the revision before it), not already present,
    so a batch re-sent after its first delivery was excluded is not lost.

    Leaves temp table `redelivered` (_line, kind, previous_file_id) and marks as rejects, in
    `candidates`, the rows whose change is refused: an id another source already holds with
    other content, or any change under `on_changed_row = "quarantine"`. Only matched rows are
    touched, and only the refused ones are updated: a cumulative export matches nearly every
    row, and an UPDATE of every row holds its undo data in memory.
    """
    if not has_examples(layout):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE redelivered "
            "(_line BIGINT, kind VARCHAR, previous_file_id VARCHAR)"
        )
        return Redelivery()
    current = current_examples_sql(
        layout,
        config.dataset,
        ignoring_file_id=file_id,
        excluding_file_ids_sql=excluding_file_ids_sql,
    )
    policy = quote_literal(config.dataset.on_changed_row)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE redelivered AS
        SELECT c._line, c._example_id, e.file_id AS previous_file_id,
               e.line_number AS previous_line, e.source AS previous_source,
               CASE WHEN c._content_hash = e.content_hash THEN 'already_present'
                    WHEN e.source <> {quote_literal(source)} THEN 'conflicting_duplicate'
                    WHEN {policy} = 'quarantine' THEN 'changed_row'
                    ELSE 'update' END AS kind
        FROM (SELECT _line, _example_id, _content_hash FROM candidates
              WHERE error_type IS NULL) AS c
        JOIN (SELECT example_id, content_hash, file_id, line_number, source FROM {current}) AS e
        ON c._example_id = e.example_id
        """
    )
    _reject_refused_changes(con)
    counts = dict(con.execute("SELECT kind, count(*) FROM redelivered GROUP BY 1").fetchall())
    return Redelivery(counts.get("already_present", 0), counts.get("update", 0))


def _reject_refused_changes(con: duckdb.DuckDBPyConnection) -> None:
    where = "file ' || r.previous_file_id || ', line ' || r.previous_line || '"
    con.execute(
        f"""
        UPDATE candidates AS c
        SET error_type = r.kind,
            reason = CASE r.kind
                WHEN 'conflicting_duplicate' THEN 'id ' || r._example_id
                    || ' is already in the warehouse from source ' || r.previous_source
                    || ' with different content ({where}); an id names one example across '
                    || 'sources: fix the id in one of them'
                ELSE 'id ' || r._example_id || ' changed since its delivery in {where}; '
                    || 'on_changed_row = "quarantine" holds every change for review: set it '
                    || 'to "update" in bayesline.toml to take the latest delivery' END
        FROM redelivered AS r
        WHERE c._line = r._line AND r.kind IN ('conflicting_duplicate', 'changed_row')
        """
    )
