"""What a data card says, computed from the warehouse: nothing in it is typed by hand.

Counts come from the version's own files (read by DuckDB), human-level error and the
diagnosis from the catalog views, the recipe from the manifest, the config and the assignment
rule of warehouse/splits.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from evaluation.champion import current_champion
from handoff.pinning import JsonObject, PinnedVersion
from warehouse.catalog import SqlRow, fetch_dicts, open_reader
from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_literal, split_bucket_sql
from warehouse.layout import WarehouseLayout
from warehouse.slice_names import OVERALL_COLUMN_SQL
from warehouse.split_names import SPLITS
from warehouse.splits import CUT_ORDER, bucket_case_sql, cut_points
from warehouse.sql_results import fetch_count
from warehouse.storage import capped_connection

#: Distribution -> its (split, upper bucket bound) cut points, as warehouse/splits.py cuts.
CutPoints = dict[str, list[tuple[str, int]]]


@dataclass(frozen=True)
class CardFacts:
    version: int
    manifest: JsonObject
    manifest_sha256: str
    config: BayeslineConfig
    sources: list[SqlRow]  # source, distribution, n
    counts: list[JsonObject]  # split, source, label, n (the manifest's rows)
    cut_points: CutPoints
    reproduced: int  # examples whose split the plain bucket rule of group_key gives
    human_levels: list[SqlRow] = field(default_factory=list)
    diagnosed_model: str | None = None
    diagnosed_because: str = ""
    diagnosis: list[SqlRow] = field(default_factory=list)

    @property
    def n_examples(self) -> int:
        counts: dict[str, int] = self.manifest["counts"]
        return sum(counts.values())


def gather_facts(
    layout: WarehouseLayout, config: BayeslineConfig, pinned: PinnedVersion
) -> CardFacts:
    fractions = pinned.manifest["assignment"]["fractions_for_new_examples"]
    cuts = {d: cut_points(fractions[d], order) for d, order in CUT_ORDER.items()}
    with capped_connection(layout.scratch) as con:
        layout.store.register(con)  # the version may be on object storage
        con.execute(f"CREATE VIEW version_rows AS SELECT * FROM {_files_sql(pinned)}")
        sources = fetch_dicts(
            con,
            "SELECT source, any_value(distribution) AS distribution, count(*) AS n "
            "FROM version_rows GROUP BY source ORDER BY source",
        )
        reproduced = _reproduced_by_rule(con, pinned.manifest["assignment"]["salt"], cuts)
    counts = pinned.manifest["counts_by_split_source_label"]
    with open_reader(layout, config) as con:
        humans = _human_levels(con, pinned.version)
        model, because = _model_to_describe(layout, config, con, pinned.version)
        diagnosis = _diagnosis(con, model, pinned.version) if model else []
    return CardFacts(
        pinned.version,
        pinned.manifest,
        pinned.manifest_sha256,
        config,
        sources,
        counts,
        cuts,
        reproduced,
        humans,
        model,
        because,
        diagnosis,
    )


def _files_sql(pinned: PinnedVersion) -> str:
    files = ", ".join(quote_literal(str(pinned.split_file(s))) for s in SPLITS)
    return f"read_parquet([{files}])"


def _reproduced_by_rule(con: duckdb.DuckDBPyConnection, salt: str, cuts: CutPoints) -> int:
    """Examples whose split is the bucket rule applied to their own group key: all but those
    linked to another group by a shared text, those that joined a group published earlier,
    and those published under other fractions or an earlier rule."""
    bucket = split_bucket_sql(quote_literal(salt), "group_key")
    target_split = bucket_case_sql(cuts["target"])
    return _count(
        con,
        f"""
        SELECT count(*) FROM (
            SELECT split, distribution, {bucket} AS bucket,
                   bool_or(distribution = 'target') OVER (PARTITION BY group_key) AS has_target
            FROM version_rows)
        WHERE split = CASE
            WHEN NOT has_target THEN {bucket_case_sql(cuts["training"])}
            WHEN distribution = 'target' OR {target_split} = 'train' THEN {target_split}
            ELSE 'train_dev' END
        """,
    )


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    """The one number a `SELECT count(*)` query returns."""
    return fetch_count(con, query)


def _human_levels(con: duckdb.DuckDBPyConnection, version: int) -> list[SqlRow]:
    return fetch_dicts(
        con,
        "SELECT slice_column, slice_value, n_examples, n_annotators, consensus_error, "
        "consensus_ci_low, consensus_ci_high, typical_annotator_error, simulated "
        "FROM human_baselines WHERE split_version = ? "
        f"ORDER BY slice_column <> {OVERALL_COLUMN_SQL}, slice_column, slice_value",
        [version],
    )


def _model_to_describe(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    con: duckdb.DuckDBPyConnection,
    version: int,
) -> tuple[str | None, str]:
    """The champion if it was diagnosed on this version, else the first model that was."""
    diagnosed = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT model_version FROM diagnosis WHERE split_version = ? ORDER BY 1",
            [version],
        ).fetchall()
    ]
    if not diagnosed:
        return None, ""
    champion = current_champion(layout, config)
    if champion is not None and champion.model_version in diagnosed:
        return champion.model_version, "the champion"
    baselines = [m for m in diagnosed if m.startswith("baseline-")]
    if baselines:
        return baselines[-1], "the built-in baseline (the champion was not evaluated here)"
    return diagnosed[0], "the first model evaluated on this version (no champion evaluated)"


def _diagnosis(con: duckdb.DuckDBPyConnection, model: str, version: int) -> list[SqlRow]:
    return fetch_dicts(
        con,
        "SELECT * FROM diagnosis WHERE model_version = ? AND split_version = ? "
        f"ORDER BY slice_column <> {OVERALL_COLUMN_SQL}, slice_column, slice_value",
        [model, version],
    )
