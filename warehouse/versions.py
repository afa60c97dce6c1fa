"""Reading published split versions: list, show, diff, and verify their invariants."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from deployment.errors import BayeslineError
from warehouse.catalog import fetch_dicts
from warehouse.layout import WarehouseLayout
from warehouse.split_manifest import ManifestJson, SplitManifest
from warehouse.split_names import SPLITS, SplitName
from warehouse.splits import published_versions, version_parts
from warehouse.sql_results import fetch_row


class UnknownVersionError(BayeslineError, LookupError):
    """No published split version has that number."""


class InvalidVersionError(BayeslineError, ValueError):
    """The text does not name a split version (3, '3', 'v3' or 'v0003')."""


def parse_version(text: str | int) -> int:
    """Accept 3, '3', 'v3' or 'v0003'."""
    value = str(text).strip().lower().removeprefix("v")
    if not value.isdigit():
        raise InvalidVersionError(
            f"'{text}' is not a split version; use a number such as 3 or v0003"
        )
    return int(value)


def load_manifest(layout: WarehouseLayout, version: int) -> ManifestJson:
    """The version's manifest as published (raw JSON: for checksums and `splits show`)."""
    published = published_versions(layout)
    if version not in published:
        known = ", ".join(f"v{v}" for v in published) or "none yet"
        raise UnknownVersionError(f"no split version v{version} (published: {known})")
    try:
        manifest = layout.store.read_bytes(*version_parts(version, "_meta", "manifest.json"))
    except FileNotFoundError as exc:
        raise UnknownVersionError(f"split version v{version} has lost its manifest") from exc
    raw: ManifestJson = json.loads(manifest)
    return raw


def read_manifest(layout: WarehouseLayout, version: int) -> SplitManifest:
    """The version's manifest, typed."""
    return SplitManifest.from_json(load_manifest(layout, version))


def list_versions(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return fetch_dicts(con, "SELECT * FROM split_versions ORDER BY version")


@dataclass(frozen=True)
class VersionDiff:
    old: int
    new: int
    added: int
    removed: int
    changed: int
    moved: int
    counts: dict[SplitName, tuple[int, int]]  # split -> (old count, new count)
    sample_added: list[str]
    sample_removed: list[str]


def diff_versions(
    con: duckdb.DuckDBPyConnection, old: int, new: int, sample: int = 10
) -> VersionDiff:
    """What changed between two published versions (in SQL, over the `splits` view)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE version_pair AS
        SELECT coalesce(o.example_id, n.example_id) AS example_id,
               o.split AS old_split, n.split AS new_split,
               o.content_hash AS old_hash, n.content_hash AS new_hash
        FROM (SELECT example_id, split, content_hash FROM splits WHERE version = $old) AS o
        FULL OUTER JOIN
             (SELECT example_id, split, content_hash FROM splits WHERE version = $new) AS n
        USING (example_id)
        """,
        {"old": old, "new": new},
    )
    added, removed, changed, moved = fetch_row(
        con,
        """
        SELECT count(*) FILTER (old_split IS NULL),
               count(*) FILTER (new_split IS NULL),
               count(*) FILTER (old_hash <> new_hash),
               count(*) FILTER (old_split <> new_split)
        FROM version_pair
        """,
    )
    counts: dict[SplitName, tuple[int, int]] = dict.fromkeys(SPLITS, (0, 0))
    for split, old_n, new_n in con.execute(
        "SELECT coalesce(old_split, new_split), count(old_split), count(new_split) "
        "FROM version_pair GROUP BY 1"
    ).fetchall():
        counts[split] = (old_n, new_n)

    def ids(condition: str) -> list[str]:
        rows = con.execute(
            f"SELECT example_id FROM version_pair WHERE {condition} ORDER BY 1 LIMIT {sample}"
        ).fetchall()
        return [r[0] for r in rows]

    return VersionDiff(
        old,
        new,
        added,
        removed,
        changed,
        moved,
        counts,
        ids("old_split IS NULL"),
        ids("new_split IS NULL"),
    )


#: A group or near-duplicate leaks when it sits in train and in any other split (the model
#: would be scored on what it learnt from), or in both dev and test. Train-dev beside one of
#: dev or test is allowed: a group's training examples are held out there when its target
#: examples are in dev or test, and train-dev is never trained on.
_LEAKS_ACROSS_SPLITS = """(bool_or(split = 'train') AND count(DISTINCT split) > 1)
                          OR (bool_or(split = 'dev') AND bool_or(split = 'test'))"""


def find_split_violations(
    con: duckdb.DuckDBPyConnection, version: int
) -> dict[str, list[list[Any]]]:
    """Rows that break a split invariant in a version: empty lists mean it is sound."""
    checks = {
        "training_rows_in_dev_or_test": """
            SELECT example_id, split, source FROM splits
            WHERE version = $v AND split IN ('dev', 'test') AND distribution <> 'target'
            LIMIT 20""",
        "target_rows_in_train_dev": """
            SELECT example_id, split, source FROM splits
            WHERE version = $v AND split = 'train_dev' AND distribution = 'target'
            LIMIT 20""",
        "groups_leaking_across_splits": f"""
            SELECT group_key, list(DISTINCT split ORDER BY split) FROM splits
            WHERE version = $v GROUP BY group_key HAVING {_LEAKS_ACROSS_SPLITS} LIMIT 20""",
        "duplicates_leaking_across_splits": f"""
            SELECT dedup_key, list(DISTINCT split ORDER BY split) FROM splits
            WHERE version = $v GROUP BY dedup_key HAVING {_LEAKS_ACROSS_SPLITS} LIMIT 20""",
    }
    return {
        name: [list(row) for row in con.execute(sql, {"v": version}).fetchall()]
        for name, sql in checks.items()
    }


def changed_files(
    layout: WarehouseLayout, version: int, names: list[str] | None = None
) -> list[str]:
    """Split files whose bytes no longer match the sha256 in the version's manifest (only
    `names`, when given), or that are gone."""
    manifest = read_manifest(layout, version)
    store = layout.store
    return [
        name
        for name, recorded in manifest.files.items()
        if (names is None or name in names)
        and (
            not store.exists(*version_parts(version, name))
            or store.sha256(*version_parts(version, name)) != recorded["sha256"]
        )
    ]
