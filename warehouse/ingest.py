"""Incremental ingestion of landing files into the lake's `examples` table.

Each landing file is ingested once, keyed by its source and content hash. Malformed rows go to
`rejected_rows` with their line, raw text and reason; the rest of the file still loads. Every
output file appears by an atomic rename and the `ingested_files` record is written last, so a
crash half-way leaves nothing a re-run does not overwrite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import duckdb

from warehouse.batch_decisions import excluded_batches_sql
from warehouse.config import BayeslineConfig
from warehouse.hashing import fields_hash_sql, file_sha256, quote_identifier, quote_literal
from warehouse.image_files import quarantine_unreadable_images
from warehouse.layout import WarehouseLayout
from warehouse.pause_points import pause_point
from warehouse.readers import ReadPath, UnreadableFileError, stage_landing_file
from warehouse.revisions import Redelivery, classify_redelivered_rows
from warehouse.schema import INGESTED_FILE_COLUMNS
from warehouse.sql_results import fetch_count
from warehouse.staged_tables import Projection
from warehouse.storage import (
    copy_to_lake,
    write_lake_records,
    writer_connection,
    writer_lock,
)

#: Sources whose folder name starts with this are reserved for the platform (e.g. predictions).
RESERVED_SOURCE_PREFIX = "_"
EXAMPLE_ID_HEX_CHARS = 20  # 80 bits: collisions are negligible far beyond a billion rows
#: What became of a landing file: loaded (bad rows rejected one by one), rejected whole, or
#: skipped (ingested before).
IngestStatus = Literal["loaded", "rejected", "skipped"]


@dataclass(frozen=True)
class LandingFile:
    source: str
    path: Path


@dataclass(frozen=True)
class FileIngestResult:
    file_id: str
    source: str
    path: Path
    status: IngestStatus
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    reason: str | None = None
    rejects_by_type: dict[str, int] = field(default_factory=dict)
    read_path: ReadPath | None = None  # see warehouse/readers.py
    fallback_reason: str | None = None  # why DuckDB's reader was not enough
    #: Rows identical to an example already stored: neither loaded nor rejected.
    rows_already_present: int = 0
    #: Loaded rows that are a new revision of an example already stored.
    rows_updated: int = 0


@dataclass(frozen=True)
class IngestSummary:
    files: list[FileIngestResult]

    def _of(self, status: IngestStatus) -> list[FileIngestResult]:
        return [f for f in self.files if f.status == status]

    @property
    def new_files(self) -> list[FileIngestResult]:
        return [f for f in self.files if f.status != "skipped"]

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def rows_already_present(self) -> int:
        return sum(f.rows_already_present for f in self.files)

    @property
    def rows_updated(self) -> int:
        return sum(f.rows_updated for f in self.files)

    @property
    def files_rejected(self) -> list[FileIngestResult]:
        return self._of("rejected")


def discover_landing_files(layout: WarehouseLayout) -> list[LandingFile]:
    """Every data file under landing/<source>/, in a stable order."""
    found: list[LandingFile] = []
    if not layout.landing.is_dir():
        return found
    for source_dir in sorted(p for p in layout.landing.iterdir() if p.is_dir()):
        if source_dir.name.startswith((RESERVED_SOURCE_PREFIX, ".")):
            continue
        for path in sorted(source_dir.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                found.append(LandingFile(source_dir.name, path))
    return found


def file_id_for(source: str, content_sha256: str) -> str:
    return hashlib.sha256(f"{source}/{content_sha256}".encode()).hexdigest()[:16]


#: [size, mtime_ns, file_id] of a landing file: a JSON list, as the sensor's cursor keeps it.
FileFingerprint = list[int | str]
#: path -> its fingerprint: lets a poller skip re-hashing files it has seen.
FileFingerprints = dict[str, FileFingerprint]


def pending_landing_files(
    layout: WarehouseLayout, seen: FileFingerprints | None = None
) -> tuple[list[tuple[LandingFile, str]], FileFingerprints]:
    """Landing files not ingested yet, with their file ids, and fingerprints of every file.

    A file whose size and modification time match `seen` keeps its recorded id, so a poller
    hashes only new or rewritten files.
    """
    seen = seen or {}
    pending: list[tuple[LandingFile, str]] = []
    fingerprints: FileFingerprints = {}
    for landing_file in discover_landing_files(layout):
        stat = landing_file.path.stat()
        key = str(landing_file.path)
        known = seen.get(key)
        if known and known[:2] == [stat.st_size, stat.st_mtime_ns]:
            file_id = str(known[2])
        else:
            file_id = file_id_for(landing_file.source, file_sha256(landing_file.path))
        fingerprints[key] = [stat.st_size, stat.st_mtime_ns, file_id]
        if not layout.store.holds(_ingested_record(layout, file_id)):
            pending.append((landing_file, file_id))
    return pending, fingerprints


def ingest_landing_files(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    files: Iterable[LandingFile] | None = None,
    on_file: Callable[[FileIngestResult], None] | None = None,
) -> IngestSummary:
    """Ingest every landing file not ingested yet (or just `files`); returns what happened."""
    layout.ensure()
    results = []
    with writer_lock(layout):
        for landing_file in discover_landing_files(layout) if files is None else files:
            result = ingest_landing_file(layout, config, landing_file)
            results.append(result)
            if on_file:
                on_file(result)
            pause_point("ingest.between_files")
    return IngestSummary(results)


def ingest_landing_file(
    layout: WarehouseLayout, config: BayeslineConfig, landing_file: LandingFile
) -> FileIngestResult:
    content_sha = file_sha256(landing_file.path)
    file_id = file_id_for(landing_file.source, content_sha)
    if layout.store.holds(_ingested_record(layout, file_id)):
        return FileIngestResult(file_id, landing_file.source, landing_file.path, "skipped")
    ingested_at = datetime.now(UTC).replace(tzinfo=None)
    with writer_connection(layout) as con:
        try:
            staged = stage_landing_file(
                con,
                landing_file.path,
                config.dataset.input_columns,
                table="candidates",
                project=_candidate_projection(config, landing_file.source),
            )
        except UnreadableFileError as exc:
            result = _reject_whole_file(con, layout, landing_file, file_id, str(exc), ingested_at)
        else:
            result = _load_staged_rows(
                con, layout, config, landing_file, file_id, staged.rows_read, ingested_at
            )
            result = replace(
                result, read_path=staged.read_path, fallback_reason=staged.fallback_reason
            )
        _write_ingested_record(layout, config, result, content_sha, ingested_at)
    return result


def _ingested_record(layout: WarehouseLayout, file_id: str) -> Path:
    return layout.ingested_files_dir / f"{file_id}.parquet"


def _reject_whole_file(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    landing_file: LandingFile,
    file_id: str,
    reason: str,
    ingested_at: datetime,
) -> FileIngestResult:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE file_rejects AS SELECT "
        "CAST(NULL AS BIGINT) AS line_number, CAST(NULL AS VARCHAR) AS raw, "
        "'unreadable_file' AS error_type, ? AS reason",
        [reason],
    )
    _write_rejects(con, layout, landing_file, file_id, "file_rejects", ingested_at)
    return FileIngestResult(
        file_id, landing_file.source, landing_file.path, "rejected", reason=reason
    )


def _load_staged_rows(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    config: BayeslineConfig,
    landing_file: LandingFile,
    file_id: str,
    rows_read: int,
    ingested_at: datetime,
) -> FileIngestResult:
    quarantine_unreadable_images(con, layout.home, config.dataset.image_columns)
    _mark_duplicates_within_file(con)
    excluded = excluded_batches_sql(con, layout)
    redelivery = classify_redelivered_rows(
        con, layout, config, landing_file.source, file_id, excluding_file_ids_sql=excluded
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE all_rejects AS "
        "SELECT line_number, raw, error_type, reason FROM parse_rejects UNION ALL "
        f"SELECT _line, coalesce(_raw, {_record_json_sql(config)}), error_type, reason "
        "FROM candidates WHERE error_type IS NOT NULL"
    )
    _write_rejects(con, layout, landing_file, file_id, "all_rejects", ingested_at)
    loaded = _write_examples(
        con, layout, config, landing_file.source, file_id, ingested_at, redelivery
    )
    by_type: dict[str, int] = dict(
        con.execute("SELECT error_type, count(*) FROM all_rejects GROUP BY 1 ORDER BY 1").fetchall()
    )
    return FileIngestResult(
        file_id,
        landing_file.source,
        landing_file.path,
        "loaded",
        rows_read=rows_read,
        rows_loaded=loaded,
        rows_rejected=sum(by_type.values()),
        rejects_by_type=by_type,
        rows_already_present=redelivery.already_present,
        rows_updated=redelivery.updated,
    )


def _candidate_projection(config: BayeslineConfig, source: str) -> Projection:
    """The SELECT that trims fields, computes ids and hashes (see warehouse/hashing.py for the
    recipes) and finds each row's first problem, run in the parsing pass."""
    dataset = config.dataset
    q = quote_identifier
    trimmed = ", ".join(
        f"{_trimmed_or_null(q(c))} AS {q(c)}"
        for c in (*dataset.payload_columns, dataset.label_column)
    )
    normalised = [
        f"trim(regexp_replace(lower({q(c)}), '[^\\p{{L}}\\p{{N}}]+', ' ', 'g'))"
        for c in dataset.payload_columns
    ]
    dedup_key = fields_hash_sql(normalised)
    content_fields = [dataset.label_column, *dataset.payload_columns, *dataset.slice_columns]
    if dataset.group_column:
        content_fields.append(dataset.group_column)
    content_hash = fields_hash_sql([q(c) for c in content_fields])
    if dataset.id_column:
        example_id = _trimmed_or_null(q(dataset.id_column))
    else:
        payload_hash = fields_hash_sql(
            [quote_literal(source), *(q(c) for c in dataset.payload_columns)]
        )
        example_id = f"substr({payload_hash}, 1, {EXAMPLE_ID_HEX_CHARS})"
    rules = _validation_rules(config)
    error_type = " ".join(f"WHEN {cond} THEN '{kind}'" for cond, kind, _ in rules)
    reason = " ".join(f"WHEN {cond} THEN {why}" for cond, _, why in rules)
    return lambda relation: (
        f"""
        SELECT *, CASE {error_type} END AS error_type, CASE {reason} END AS reason
        FROM (
            SELECT *, {example_id} AS _example_id, {content_hash} AS _content_hash,
                   {dedup_key} AS _dedup_key
            FROM (SELECT * REPLACE ({trimmed}) FROM {relation})
        )
    """
    )


#: What a field made only of these is: empty. Spaces, tabs, line breaks, no-break and
#: typographic spaces, the zero-width space and a stray BOM.
BLANK_CHARACTERS = " \t\n\r\v\f\u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(c) for c in range(0x2000, 0x200C)
)


def _trimmed_or_null(column_sql: str) -> str:
    # Values keep today's trim (spaces at both ends) so content hashes stay stable; only a
    # value that is nothing but blank characters becomes empty. Trimming a character set is
    # slow, so it runs only on values that start with a blank character.
    blank = quote_literal(BLANK_CHARACTERS)
    return (
        f"CASE WHEN contains({blank}, left({column_sql}, 1)) THEN "
        f"(CASE WHEN trim({column_sql}, {blank}) = '' THEN NULL ELSE trim({column_sql}) END) "
        f"ELSE nullif(trim({column_sql}), '') END"
    )


def _validation_rules(config: BayeslineConfig) -> list[tuple[str, str, str]]:
    """(condition, error type, reason expression), in order: a row gets its first problem."""
    dataset = config.dataset
    q = quote_identifier
    label = q(dataset.label_column)
    label_set = ", ".join(quote_literal(v) for v in dataset.labels)
    # A NUL byte is never text: a binary or UTF-16 file, or a damaged export.
    rules = [
        (
            f"contains({q(c)}, chr(0))",
            "nul_byte",
            quote_literal(f"a NUL byte in {c}: the file is damaged or binary; remove it"),
        )
        for c in dataset.input_columns
    ]
    if dataset.id_column:
        rules.append(("_example_id IS NULL", "missing_id", f"'empty {dataset.id_column}'"))
    rules.append((f"{label} IS NULL", "missing_label", f"'empty {dataset.label_column}'"))
    rules.append(
        (
            f"{label} NOT IN ({label_set})",
            "unknown_label",
            f"'label ''' || {label} || ''' is not in the label set [{', '.join(dataset.labels)}]'",
        )
    )
    for column in dataset.payload_columns:
        rules.append((f"{q(column)} IS NULL", "empty_payload", f"'empty {column}'"))
    if dataset.group_column:
        group = dataset.group_column
        rules.append((f"{_trimmed_or_null(q(group))} IS NULL", "missing_group", f"'empty {group}'"))
    return rules


def _record_json_sql(config: BayeslineConfig) -> str:
    """The parsed record as JSON: the raw text of a row whose format keeps no raw line."""
    fields = ", ".join(
        f"{quote_identifier(c)} := {quote_identifier(c)}" for c in config.dataset.input_columns
    )
    return f"CAST(to_json(struct_pack({fields})) AS VARCHAR)"


#: Distinct ids one GROUP BY counts when looking for repeated ids. One GROUP BY over the 67M
#: ids of one landing file failed to allocate its hash table under the default memory cap
#: (BENCHMARKS.md); passes over disjoint slices of the ids keep each table small.
IDS_PER_PASS = 4_000_000


def _mark_duplicates_within_file(con: duckdb.DuckDBPyConnection) -> None:
    # Find repeated ids with a bare count first: the per-id details below cost a string
    # aggregate per group, so they are computed only for the (usually no) repeated ids.
    _find_repeated_ids(con)
    if not fetch_count(con, "SELECT count(*) FROM repeated_ids"):
        return
    con.execute(
        """
        CREATE TEMP TABLE id_stats AS
        SELECT _example_id, count(DISTINCT _content_hash) AS versions, min(_line) AS first_line,
               string_agg(_line::VARCHAR, ', ' ORDER BY _line) AS lines
        FROM candidates SEMI JOIN repeated_ids USING (_example_id)
        WHERE error_type IS NULL GROUP BY _example_id
        """
    )
    con.execute(
        """
        UPDATE candidates AS c
        SET error_type = CASE WHEN s.versions > 1 THEN 'conflicting_duplicate'
                              ELSE 'exact_duplicate' END,
            reason = CASE WHEN s.versions > 1
                THEN 'id ' || c._example_id || ' appears with different content on lines '
                     || s.lines || '; none is loaded until the file is fixed'
                ELSE 'exact duplicate of line ' || s.first_line END
        FROM id_stats AS s
        WHERE c.error_type IS NULL AND c._example_id = s._example_id
          AND (s.versions > 1 OR c._line > s.first_line)
        """
    )


def _find_repeated_ids(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table `repeated_ids`: the ids of more than one valid row of the file."""
    valid = fetch_count(con, "SELECT count(*) FROM candidates WHERE error_type IS NULL")
    passes = max(1, -(-valid // IDS_PER_PASS))
    con.execute("CREATE TEMP TABLE repeated_ids (_example_id VARCHAR)")
    for part in range(passes):
        # DuckDB's hash() only divides the work of this one statement between passes; nothing
        # it computes is stored, so that it changes between DuckDB versions does not matter.
        in_part = f"AND hash(_example_id) % {passes} = {part}" if passes > 1 else ""
        con.execute(
            f"""
            INSERT INTO repeated_ids
            SELECT _example_id FROM candidates WHERE error_type IS NULL {in_part}
            GROUP BY _example_id HAVING count(*) > 1
            """
        )


def _write_examples(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    config: BayeslineConfig,
    source: str,
    file_id: str,
    ingested_at: datetime,
    redelivery: Redelivery,
) -> int:
    dataset = config.dataset
    q = quote_identifier
    group_key = q(dataset.group_column) if dataset.group_column else "_dedup_key"
    payload_and_slices = ", ".join(q(c) for c in (*dataset.payload_columns, *dataset.slice_columns))
    # Rows already in the warehouse are left out, and a new revision names the file of the one
    # it replaces. Without any, candidates keeps the file's order (DuckDB preserves insertion
    # order), so no join and no sort; a join does not keep it, so then the rows are sorted.
    redelivered = redelivery.already_present + redelivery.updated
    rows, previous, order = "candidates WHERE error_type IS NULL", "CAST(NULL AS VARCHAR)", ""
    if redelivered:
        rows = (
            "candidates LEFT JOIN (SELECT _line, kind, previous_file_id FROM redelivered) "
            "USING (_line) WHERE error_type IS NULL "
            "AND kind IS DISTINCT FROM 'already_present'"
        )
        previous, order = "previous_file_id", "ORDER BY _line"
    query = f"""
        SELECT _example_id AS example_id, {quote_literal(source)} AS source,
               {quote_literal(config.distribution_of(source))} AS distribution,
               trim({group_key}) AS group_key, {q(dataset.label_column)} AS label,
               {payload_and_slices},
               _content_hash AS content_hash, _dedup_key AS dedup_key,
               {quote_literal(file_id)} AS file_id, _line AS line_number,
               TIMESTAMP '{ingested_at.isoformat(sep=" ")}' AS ingested_at,
               {previous} AS previous_file_id
        FROM {rows} {order}
    """
    # Every row already present is a valid one (only refused changes were marked), so no join
    # is needed to count what is written.
    valid = fetch_count(con, "SELECT count(*) FROM candidates WHERE error_type IS NULL")
    loaded = valid - redelivery.already_present
    if loaded:
        # Replaced, not refused, when there: only a crashed attempt at this file leaves one,
        # and the batch counts only once its ingested_files record (written last) exists.
        copy_to_lake(con, layout, query, layout.examples_dir / f"{file_id}.parquet")
    return loaded


def _write_rejects(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    landing_file: LandingFile,
    file_id: str,
    table: str,
    ingested_at: datetime,
) -> None:
    if not fetch_count(con, f"SELECT count(*) FROM {table}"):
        return
    copy_to_lake(
        con,
        layout,
        f"""
        SELECT {quote_literal(file_id)} AS file_id, {quote_literal(landing_file.source)} AS source,
               {quote_literal(str(landing_file.path))} AS file_path, line_number, raw,
               error_type, reason, TIMESTAMP '{ingested_at.isoformat(sep=" ")}' AS rejected_at
        FROM {table} ORDER BY line_number NULLS FIRST
        """,
        layout.rejected_dir / f"{file_id}.parquet",
    )


def _write_ingested_record(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    result: FileIngestResult,
    content_sha: str,
    ingested_at: datetime,
) -> None:
    """The commit marker of a file's ingestion: written last."""
    record = {
        "file_id": result.file_id,
        "source": result.source,
        "distribution": config.distribution_of(result.source),
        "file_path": str(result.path),
        "content_sha256": content_sha,
        "size_bytes": result.path.stat().st_size,
        "status": result.status,
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_rejected": result.rows_rejected,
        "reason": result.reason,
        "ingested_at": ingested_at,
        "read_path": result.read_path,
        "fallback_reason": result.fallback_reason,
        "rows_already_present": result.rows_already_present,
        "rows_updated": result.rows_updated,
    }
    write_lake_records(
        layout,
        INGESTED_FILE_COLUMNS,
        [record],
        _ingested_record(layout, result.file_id),
        immutable=True,
    )
