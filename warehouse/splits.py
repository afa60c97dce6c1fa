"""Sticky, leakage-free split assignment and immutable split versions.

Assignment rules (documented in the README, enforced by property tests):
- Examples are linked into components: the same group key, or the same normalised payload
  (`dedup_key`), puts two examples in one component.
- A component seen for the first time gets its split from a salted sha256 bucket of its key
  (the smallest group key in it). Training-only components divide between train and train-dev
  by the training fractions. A component holding target examples divides among dev, test and
  train by the target fractions, and its target examples go there; its training examples go
  to train when that split is train, and are held out in train-dev when it is dev or test.
  Dev and test so get their share of target data even when most groups have both kinds of
  record, and no group is both trained on and evaluated: a group may sit in train-dev and one
  of dev or test (train-dev is never trained on), never in train beside another split.
- Assignment is sticky: an example keeps its split in every later version. A new example
  joining a published component takes the split of the component's published examples of its
  distribution; when there are none, the split the rule pairs with the other distribution's:
  train beside train, train-dev beside dev or test, and dev or test (by a second, independent
  bucket) beside train-dev. So a component an earlier rule published wholly in train stays
  there. A new example whose component's published examples sit in splits the rule never pairs
  (it bridged components published apart) is excluded, with the reason recorded, rather than
  leak.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict, TypeVar

import duckdb

from deployment.errors import BayeslineError, InvariantError
from warehouse.batch_decisions import examples_in_force_sql, manifest_batch_decisions
from warehouse.config import BayeslineConfig, compute_engine
from warehouse.hashing import BUCKETS, file_sha256, quote_literal, split_bucket_sql
from warehouse.lake_tables import LABEL_CORRECTIONS, SPLITS_FOLDER
from warehouse.layout import WarehouseLayout
from warehouse.pause_points import pause_point
from warehouse.revisions import has_examples
from warehouse.schema import SPLIT_VERSION_COLUMNS
from warehouse.slice_bins import write_slice_bins
from warehouse.split_fractions import measure_split_fractions
from warehouse.split_manifest import (
    FileDigest,
    LabelCount,
    ManifestJson,
    SplitChanges,
    SplitManifest,
)
from warehouse.split_names import SPLITS, SplitName
from warehouse.sql_results import fetch_count
from warehouse.storage import (
    PARQUET_OPTIONS,
    lake_files,
    parquet_files_sql,
    write_local_records,
    writer_connection,
    writer_lock,
)

VERSION_DIR = re.compile(r"^v(\d+)$")
MAX_COMPONENT_ROUNDS = 100


@dataclass(frozen=True)
class PublishResult:
    version: int | None
    created: bool
    parent_version: int | None
    split_counts: dict[SplitName, int] = field(default_factory=dict)
    n_added: int = 0
    n_removed: int = 0
    n_changed: int = 0
    n_excluded: int = 0
    #: The version's folder: a local path, or its s3:// URL on object storage.
    path: str | None = None

    @property
    def latest_version(self) -> int:
        """The newest version once this publish is done: the new one, or the parent."""
        latest = self.version if self.created else self.parent_version
        if latest is None:  # nothing new is published only when a parent exists
            raise InvariantError("a publish created no version and had no parent")
        return latest

    @property
    def message(self) -> str:
        if not self.created:
            return f"no change since v{self.parent_version}: no new version published"
        sizes = ", ".join(f"{k} {v:,}" for k, v in self.split_counts.items())
        return f"published v{self.version} ({sizes}; +{self.n_added:,} -{self.n_removed:,})"


class SplitVersionRow(TypedDict):
    """A version's row of the `split_versions` table (SPLIT_VERSION_COLUMNS)."""

    version: int
    parent_version: int | None
    created_at: datetime
    n_train: int
    n_train_dev: int
    n_dev: int
    n_test: int
    n_added: int
    n_removed: int
    n_changed: int
    n_excluded: int
    config_hash: str
    manifest_sha256: str


class SplitInvariantError(InvariantError):
    """A published example would move split: a bug, never an expected outcome."""


class NoExamplesError(BayeslineError, ValueError):
    """Nothing was ingested yet, so there is nothing to split."""


def version_dir_name(version: int) -> str:
    return f"v{version:04d}"


def published_versions(layout: WarehouseLayout) -> list[int]:
    """The published versions, in the local lake or on object storage (README: For teams)."""
    names = layout.store.published_folders(SPLITS_FOLDER)
    return sorted(int(m.group(1)) for name in names if (m := VERSION_DIR.match(name)))


def version_path(layout: WarehouseLayout, version: int) -> Path:
    """The version's folder in a local lake (readers use version_location, which is right
    wherever the lake is)."""
    return layout.splits_dir / version_dir_name(version)


def version_parts(version: int, *parts: str) -> tuple[str, ...]:
    """The names leading from the lake's root to a version's folder, or to `parts` in it."""
    return (SPLITS_FOLDER, version_dir_name(version), *parts)


def version_location(layout: WarehouseLayout, version: int, *parts: str) -> str:
    """A version's folder, or `parts` in it, wherever the lake is: a path or an s3:// URL
    that the layout's store reads and registers on DuckDB connections."""
    return layout.store.location(*version_parts(version, *parts))


def publish_split_version(
    layout: WarehouseLayout, config: BayeslineConfig, now: datetime | None = None
) -> PublishResult:
    """Assign every example to a split and publish a new immutable version if anything changed."""
    layout.ensure()
    with writer_lock(layout), writer_connection(layout) as con:
        versions = published_versions(layout)
        parent = versions[-1] if versions else None
        if not _load_examples(con, layout, config):
            raise NoExamplesError(
                f"The warehouse at {layout.home} has no examples yet: land files under "
                f"{layout.landing}/<source>/ and ingest them before publishing splits."
            )
        _load_registry(con, layout, parent)
        engine = compute_engine()
        if engine == "spark":
            _assign_splits_on_spark(con, layout, config)
        else:
            _link_components(con)
            _assign_splits(con, config)
        changes = _diff_against_parent(con, layout, parent)
        if parent is not None and changes.is_empty:
            return PublishResult(version=None, created=False, parent_version=parent)
        version = (parent or 0) + 1
        path = _write_version(con, layout, config, version, parent, changes, now, engine)
        return PublishResult(
            version=version,
            created=True,
            parent_version=parent,
            split_counts=_split_counts(con),
            n_added=changes.added,
            n_removed=changes.removed,
            n_changed=changes.changed,
            n_excluded=fetch_count(con, "SELECT count(*) FROM assigned WHERE split IS NULL"),
            path=path,
        )


def _assign_splits_on_spark(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, config: BayeslineConfig
) -> None:
    # Imported here: pyspark is an optional extra, and spark_splits builds on this module.
    from warehouse.spark_session import spark_session
    from warehouse.spark_splits import assign_splits_on_spark

    work_dir = layout.scratch / f"spark-assign-{uuid.uuid4().hex}"
    try:
        assign_splits_on_spark(con, spark_session(layout.scratch), config, work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _load_examples(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, config: BayeslineConfig
) -> int:
    if not has_examples(layout):
        return 0
    _create_corrected_examples(con, layout, config)
    con.execute(
        # Only what linking and assignment need: at 10M rows every column here costs memory.
        "CREATE TEMP TABLE ex AS SELECT example_id, distribution, group_key, dedup_key "
        "FROM corrected_examples"
    )
    return fetch_count(con, "SELECT count(*) FROM ex")


def _create_corrected_examples(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, config: BayeslineConfig
) -> None:
    """The current revision of each example with accepted label corrections applied (the newest
    correction per example wins), leaving out the batches a person excluded.

    A corrected or re-delivered example keeps its id, so it keeps its split; its content hash
    changes, so the next version lists it as changed.
    """
    examples = examples_in_force_sql(con, layout, config.dataset)
    corrections = lake_files(con, layout, layout.table_dir(LABEL_CORRECTIONS) / "*.parquet")
    if not corrections:
        con.execute(f"CREATE OR REPLACE TEMP VIEW corrected_examples AS SELECT * FROM {examples}")
        return
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW corrected_examples AS
        WITH latest AS (
            SELECT example_id, new_label FROM {parquet_files_sql(corrections)}
            QUALIFY row_number() OVER (PARTITION BY example_id ORDER BY accepted_at DESC) = 1
        )
        SELECT e.* REPLACE (
            coalesce(c.new_label, e.label) AS label,
            CASE WHEN c.new_label IS NULL OR c.new_label = e.label THEN e.content_hash
                 ELSE sha256(e.content_hash || chr(31) || 'corrected:' || c.new_label)
            END AS content_hash)
        FROM {examples} AS e LEFT JOIN latest AS c USING (example_id)
        """
    )


def _load_registry(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, parent: int | None
) -> None:
    """Every assignment ever published (removed examples included), from the parent version."""
    if parent is None:
        con.execute(
            "CREATE TEMP TABLE registry (example_id VARCHAR, split VARCHAR, first_version INTEGER)"
        )
        return
    path = version_location(layout, parent, "_meta", "assignments.parquet")
    con.execute(f"CREATE TEMP TABLE registry AS SELECT * FROM read_parquet({quote_literal(path)})")


def _link_components(con: duckdb.DuckDBPyConnection) -> None:
    """Label each example with its component: the smallest group key reachable through shared
    group keys or shared normalised payloads (min-label propagation, done in SQL)."""
    # Only payloads shared by several groups link anything, and they are few: propagate
    # labels over those edges alone; every other group is a component by itself.
    con.execute(
        """
        CREATE TEMP TABLE links AS
        SELECT DISTINCT dedup_key, group_key FROM ex
        WHERE dedup_key IN (SELECT dedup_key FROM ex GROUP BY dedup_key
                            HAVING min(group_key) <> max(group_key))
        """
    )
    con.execute(
        "CREATE TEMP TABLE linked AS SELECT DISTINCT group_key AS node, group_key AS comp "
        "FROM links"
    )
    _propagate_min_labels(con)
    con.execute(
        """
        CREATE TEMP TABLE comp AS
        SELECT DISTINCT ex.group_key AS node, coalesce(linked.comp, ex.group_key) AS comp
        FROM ex LEFT JOIN linked ON ex.group_key = linked.node
        """
    )


def _propagate_min_labels(con: duckdb.DuckDBPyConnection) -> None:
    for _ in range(MAX_COMPONENT_ROUNDS):
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE dedup_comp AS
            SELECT links.dedup_key, min(linked.comp) AS comp
            FROM links JOIN linked ON links.group_key = linked.node GROUP BY links.dedup_key
            """
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE next_comp AS
            SELECT links.group_key AS node, min(d.comp) AS comp
            FROM links JOIN dedup_comp AS d USING (dedup_key) GROUP BY links.group_key
            """
        )
        moved = fetch_count(
            con,
            "SELECT count(*) FROM linked JOIN next_comp USING (node) "
            "WHERE linked.comp <> next_comp.comp",
        )
        con.execute("CREATE OR REPLACE TEMP TABLE linked AS SELECT * FROM next_comp")
        if not moved:
            return
    raise InvariantError("group/duplicate components did not converge")


def _assign_splits(con: duckdb.DuckDBPyConnection, config: BayeslineConfig) -> None:
    """Give every example a split, or NULL and the reason it is excluded (table `assigned`)."""
    _plan_components(con, config)
    con.execute(
        f"""
        CREATE TEMP TABLE assigned AS
        SELECT m.example_id, m.comp, {MEMBER_SPLIT_SQL} AS split,
               CASE WHEN m.published IS NULL THEN p.excluded_reason END AS excluded_reason
        FROM ({MEMBERS_SQL}) AS m JOIN component_plan AS p USING (comp)
        """
    )
    # The same, counted per component, distribution and split: what the fraction report needs.
    con.execute(
        f"""
        CREATE TEMP TABLE component_outcomes AS
        SELECT comp, is_target, split, n,
               coalesce(split <> CASE WHEN is_target THEN fresh_target ELSE fresh_training END,
                        false) AS off_rule,
               NOT is_target AND has_target AND split = 'train_dev' AS held_out_with_group
        FROM (SELECT m.*, p.*, {MEMBER_SPLIT_SQL} AS split
              FROM component_members AS m JOIN component_plan AS p USING (comp))
        """
    )


def _plan_components(con: duckdb.DuckDBPyConnection, config: BayeslineConfig) -> None:
    """Per component: where its new target and training examples go, what today's rule would
    give it were it new (`fresh_*`, for the fraction report), and why it takes nothing new when
    its published examples already sit in splits that would leak (`excluded_reason`)."""
    # Members counted per (component, distribution, published split): the plan and the
    # fraction report need no more, and this stays small where a row per example would not.
    con.execute(
        "CREATE TEMP TABLE component_members AS "
        f"SELECT comp, is_target, published, count(*) AS n FROM ({MEMBERS_SQL}) GROUP BY ALL"
    )
    con.execute(
        f"""
        CREATE TEMP TABLE component_plan AS
        WITH facts AS (
            SELECT comp,
                   {split_bucket_sql(quote_literal(config.splits.salt), "comp")} AS bucket,
                   bool_or(is_target) AS has_target,
                   count(DISTINCT published) FILTER (is_target) AS n_target_splits,
                   count(DISTINCT published) FILTER (NOT is_target) AS n_training_splits,
                   any_value(published) FILTER (is_target AND published IS NOT NULL)
                       AS target_published,
                   any_value(published) FILTER (NOT is_target AND published IS NOT NULL)
                       AS training_published
            FROM component_members GROUP BY comp
        ),
        {plan_from_facts_sql(config, split_bucket_sql)}
        """
    )


#: An example of the component being assigned (`comp`), its distribution and its published split.
MEMBERS_SQL = """
    SELECT ex.example_id, ex.distribution = 'target' AS is_target, comp.comp,
           r.split AS published
    FROM ex JOIN comp ON ex.group_key = comp.node LEFT JOIN registry AS r USING (example_id)
"""
#: A member's split (`m`, joined to its component's plan `p`): the published one if it has one;
#: else the plan's split for its distribution, unless the component takes nothing new (NULL).
MEMBER_SPLIT_SQL = """coalesce(m.published, CASE WHEN p.excluded_reason IS NULL THEN
    CASE WHEN m.is_target THEN p.target_split ELSE p.training_split END END)"""
# Published examples fit the rule when each distribution sits in one split and the two splits
# are a pair the rule makes: both train, or train_dev beside dev or test. Anything else (two
# components published apart, then linked; or a [sources] change) would leak through a new one.
CONFLICT_REASON_SQL = """(CASE
    WHEN n_target_splits > 1 OR n_training_splits > 1
         OR (target_published = 'train') <> (training_published = 'train')
    THEN 'joins examples already published in different splits; assigning it anywhere would leak'
    WHEN target_published NOT IN ('train', 'dev', 'test')
         OR training_published NOT IN ('train', 'train_dev')
    THEN 'joins examples published in a split their distribution cannot use (was [sources] '
         || 'target changed?); assigning it anywhere could leak'
    END)"""


#: The order in which each distribution's fractions fill the buckets (keyed by the
#: distribution's name as the manifest spells it: readers index it with manifest keys).
CUT_ORDER: dict[str, tuple[SplitName, ...]] = {
    "target": ("dev", "test", "train"),
    "training": ("train", "train_dev"),
}
#: A split's name: a SplitName, or the str a manifest read as JSON gives.
SplitKey = TypeVar("SplitKey", bound=str)


def cut_points(
    fractions: Mapping[SplitKey, float], order: tuple[SplitKey, ...]
) -> list[tuple[str, int]]:
    """Cumulative integer bucket bounds, so every engine compares integers, not floats."""
    cuts: list[tuple[str, int]] = []
    total = 0.0
    for name in order:
        total += fractions[name]
        cuts.append((name, round(total * BUCKETS)))
    return cuts


def bucket_case_sql(cuts: Sequence[tuple[str, int]], bucket_sql: str = "bucket") -> str:
    whens = " ".join(f"WHEN {bucket_sql} < {bound} THEN '{name}'" for name, bound in cuts[:-1])
    return f"(CASE {whens} ELSE '{cuts[-1][0]}' END)"


def _target_split_case(config: BayeslineConfig) -> str:
    return bucket_case_sql(cut_points(config.splits.target, CUT_ORDER["target"]))


def _training_split_case(config: BayeslineConfig) -> str:
    return bucket_case_sql(cut_points(config.splits.training, CUT_ORDER["training"]))


def plan_from_facts_sql(config: BayeslineConfig, bucket_sql: Callable[..., str]) -> str:
    """The rule, after a `facts` CTE (one row per component): the `fresh` CTE and the SELECT
    giving each component's target and training split and its excluded reason.

    Shared by the DuckDB and Spark paths; `bucket_sql(salt, key, part=)` is the engine's
    sha256 bucket expression (warehouse.hashing).
    """
    return f"""fresh AS (
            SELECT *,
                   CASE WHEN has_target THEN {_target_split_case(config)} END AS fresh_target,
                   CASE WHEN NOT has_target THEN {_training_split_case(config)}
                        WHEN {_target_split_case(config)} = 'train' THEN 'train'
                        ELSE 'train_dev' END AS fresh_training
            FROM facts
        )
        SELECT comp, has_target, fresh_target, fresh_training,
               CASE WHEN target_published IS NOT NULL THEN target_published
                    WHEN training_published = 'train' THEN 'train'
                    WHEN training_published = 'train_dev'
                        THEN {_held_out_target_case(config, bucket_sql)}
                    ELSE fresh_target END AS target_split,
               CASE WHEN training_published IS NOT NULL THEN training_published
                    WHEN target_published IS NULL THEN fresh_training
                    WHEN target_published = 'train' THEN 'train'
                    ELSE 'train_dev' END AS training_split,
               {CONFLICT_REASON_SQL} AS excluded_reason
        FROM fresh
"""


def _held_out_target_case(config: BayeslineConfig, bucket_sql: Callable[..., str]) -> str:
    """Dev or test, in the ratio of their target fractions (both are positive), from the
    component's second bucket: its first put it in train_dev, so it says nothing here."""
    dev, test = config.splits.target["dev"], config.splits.target["test"]
    shares: dict[SplitName, float] = {"dev": dev / (dev + test), "test": test / (dev + test)}
    second = bucket_sql(quote_literal(config.splits.salt), "comp", part=1)
    return bucket_case_sql(cut_points(shares, ("dev", "test")), second)


def _diff_against_parent(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, parent: int | None
) -> SplitChanges:
    if parent is None:  # the first version: everything assigned is new
        con.execute(
            "CREATE TEMP TABLE changes AS SELECT example_id, split, 'added' AS change "
            "FROM assigned WHERE split IS NOT NULL"
        )
        return SplitChanges(added=fetch_count(con, "SELECT count(*) FROM changes"))
    con.execute(
        "CREATE TEMP TABLE current_content AS SELECT a.example_id, a.split, e.content_hash "
        "FROM assigned AS a JOIN corrected_examples AS e USING (example_id) "
        "WHERE a.split IS NOT NULL"
    )
    files = quote_literal(version_location(layout, parent, "*.parquet"))
    con.execute(
        "CREATE TEMP TABLE parent_content AS SELECT example_id, split, content_hash "
        f"FROM read_parquet({files})"
    )
    moved = fetch_count(
        con,
        "SELECT count(*) FROM current_content AS c JOIN parent_content AS p USING (example_id) "
        "WHERE c.split <> p.split",
    )
    if moved:
        raise SplitInvariantError(f"{moved} published examples would change split; aborting")
    con.execute(
        """
        CREATE TEMP TABLE changes AS
        SELECT coalesce(c.example_id, p.example_id) AS example_id,
               coalesce(c.split, p.split) AS split,
               CASE WHEN p.example_id IS NULL THEN 'added'
                    WHEN c.example_id IS NULL THEN 'removed'
                    ELSE 'changed' END AS change
        FROM current_content AS c FULL OUTER JOIN parent_content AS p USING (example_id)
        WHERE c.example_id IS NULL OR p.example_id IS NULL OR c.content_hash <> p.content_hash
        """
    )
    counts: dict[str, int] = dict(
        con.execute("SELECT change, count(*) FROM changes GROUP BY 1").fetchall()
    )
    return SplitChanges(
        added=counts.get("added", 0),
        removed=counts.get("removed", 0),
        changed=counts.get("changed", 0),
    )


def _split_counts(con: duckdb.DuckDBPyConnection) -> dict[SplitName, int]:
    counts = dict(
        con.execute(
            "SELECT split, count(*) FROM assigned WHERE split IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    return {name: counts.get(name, 0) for name in SPLITS}


def _write_version(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    config: BayeslineConfig,
    version: int,
    parent: int | None,
    changes: SplitChanges,
    now: datetime | None,
    engine: str,
) -> str:
    """Write the version into a hidden directory, then publish it in one step: a rename in a
    local lake, the commit marker written last on object storage (warehouse/lake_store)."""
    created_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    name = version_dir_name(version)
    store = layout.store
    # Beside its final place locally (a rename never crosses filesystems); in scratch when it
    # is uploaded, so the lake folder holds only what was published.
    parent_dir = layout.scratch if store.remote else layout.splits_dir
    staging = parent_dir / f".{name}.{uuid.uuid4().hex}.tmp"
    (staging / "_meta").mkdir(parents=True)
    try:
        files = _write_split_files(con, staging, version)
        _write_meta_tables(con, staging, version)
        write_slice_bins(con, config, "published", version, staging / "_meta")
        manifest = _manifest(con, config, version, parent, changes, files, created_at, engine)
        manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
        (staging / "_meta" / "manifest.json").write_bytes(manifest_bytes)
        _write_version_row(staging, SplitManifest.from_json(manifest), manifest_bytes)
        _make_read_only(staging)
        pause_point("publish.version_staged")
        # Refused if a concurrent publisher took the number.
        return store.publish_folder(staging, SPLITS_FOLDER, name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_split_files(
    con: duckdb.DuckDBPyConnection, staging: Path, version: int
) -> dict[str, FileDigest]:
    """One Parquet file per split, each streamed from the examples joined to its members.

    Four streaming passes, not one materialised join or one partitioned write: at 10M rows
    both of those hold more in memory than the writer's cap allows.
    """
    digests: dict[Path, Future[str]] = {}
    # Each file is hashed on a thread while DuckDB writes the next one.
    with ThreadPoolExecutor(max_workers=1) as hasher:
        for split in SPLITS:
            path = staging / f"{split}.parquet"
            con.execute(
                f"""
                COPY (SELECT CAST({version} AS INTEGER) AS version, a.split, e.*
                      FROM corrected_examples AS e
                      JOIN (SELECT example_id, split FROM assigned WHERE split = '{split}') AS a
                      USING (example_id))
                TO {quote_literal(str(path))} ({PARQUET_OPTIONS})
                """
            )
            digests[path] = hasher.submit(file_sha256, path)
    files: dict[str, FileDigest] = {
        path.name: {"sha256": digest.result(), "bytes": path.stat().st_size}
        for path, digest in digests.items()
    }
    con.execute(
        "CREATE TEMP VIEW published AS SELECT * FROM "
        f"read_parquet({quote_literal(str(staging / '*.parquet'))})"
    )
    return files


def _write_meta_tables(con: duckdb.DuckDBPyConnection, staging: Path, version: int) -> None:
    # The two tables with a row per example are not sorted: at 10M rows the sort costs more
    # than writing them, and readers join or filter them rather than scan them in order.
    meta = staging / "_meta"
    queries = {
        "assignments": f"""
            SELECT example_id, split, first_version FROM registry
            UNION ALL
            SELECT example_id, split, CAST({version} AS INTEGER) FROM assigned
            WHERE split IS NOT NULL AND example_id NOT IN (SELECT example_id FROM registry)""",
        "changes": "SELECT * FROM changes",
        "excluded": "SELECT example_id, comp AS component, excluded_reason AS reason "
        "FROM assigned WHERE split IS NULL ORDER BY example_id",
    }
    for name, query in queries.items():
        target = quote_literal(str(meta / f"{name}.parquet"))
        con.execute(f"COPY ({query}) TO {target} ({PARQUET_OPTIONS})")


def _manifest(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    version: int,
    parent: int | None,
    changes: SplitChanges,
    files: dict[str, FileDigest],
    created_at: datetime,
    engine: str,
) -> ManifestJson:
    breakdown: list[LabelCount] = [
        {"split": split, "source": source, "label": label, "n": n}
        for split, source, label, n in con.execute(
            "SELECT split, source, label, count(*) FROM published GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    ]
    excluded: dict[str, int] = dict(
        con.execute(
            "SELECT excluded_reason, count(*) FROM assigned WHERE split IS NULL GROUP BY 1"
        ).fetchall()
    )
    return {
        "version": version,
        "parent_version": parent,
        "created_at": created_at.isoformat(),
        "dataset": config.dataset.name,
        "config_hash": config.fingerprint(),
        "engine": engine,  # what assigned the splits: the result is the same on either
        "assignment": {
            "hash": "sha256(salt || 0x1f || component_key), first 8 hex digits, mod 10000",
            "salt": config.splits.salt,
            "fractions_for_new_examples": {
                "target": config.splits.target,
                "training": config.splits.training,
            },
            "sticky": "examples published before keep their split",
            "groups_with_both_distributions": "split from the target fractions: their target "
            "examples go there, their training examples to train if it is train, else to "
            "train_dev",
        },
        "counts": _split_counts(con),
        "fractions": measure_split_fractions(con, config),
        "counts_by_split_source_label": breakdown,
        "changes_vs_parent": changes.as_json(),
        "excluded": {"n": sum(excluded.values()), "by_reason": excluded},
        "batch_decisions": manifest_batch_decisions(con),
        "files": files,
    }


def _write_version_row(staging: Path, manifest: SplitManifest, manifest_bytes: bytes) -> None:
    counts, changes = manifest.counts, manifest.changes
    row: SplitVersionRow = {
        "version": manifest.version,
        "parent_version": manifest.parent_version,
        "created_at": manifest.created_at,
        "n_train": counts["train"],
        "n_train_dev": counts["train_dev"],
        "n_dev": counts["dev"],
        "n_test": counts["test"],
        "n_added": changes.added,
        "n_removed": changes.removed,
        "n_changed": changes.changed,
        "n_excluded": manifest.excluded.n,
        "config_hash": manifest.config_hash,
        "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
    }
    write_local_records(SPLIT_VERSION_COLUMNS, [row], staging / "_meta" / "version.parquet")


def _make_read_only(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            path.chmod(0o444)
