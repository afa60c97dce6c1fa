"""Split assignment on Spark: the rule of warehouse/splits.py, in Spark SQL.

Publishing hands Spark the examples to assign (id, distribution, group key, normalised
payload) and the parent version's assignments as Parquet; Spark links components, plans them
and gives every example its split; publishing reads the result back as the tables `assigned`
and `component_outcomes` and writes the version exactly as on DuckDB. The rule itself is not
restated here: the cut points, the bucket cases, the members, the member's split and the leak
rule are the ones warehouse/splits.py writes; only the sha256 bucket has a Spark spelling
(warehouse/hashing.py), and both engines compare strings byte for byte (UTF-8), so "the
smallest group key" names the same key in both.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from deployment.errors import InvariantError
from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_literal, split_bucket_spark_sql
from warehouse.splits import (
    MAX_COMPONENT_ROUNDS,
    MEMBER_SPLIT_SQL,
    MEMBERS_SQL,
    plan_from_facts_sql,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

RESULT_TABLES = ("assigned", "component_outcomes")


def assign_splits_on_spark(
    con: duckdb.DuckDBPyConnection, spark: SparkSession, config: BayeslineConfig, work_dir: Path
) -> None:
    """Create the temp tables `assigned` and `component_outcomes` on `con` from its `ex` and
    `registry` tables, computed by Spark (the twin of splits._link_components and
    splits._assign_splits)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        for table in ("ex", "registry"):
            target = quote_literal(str(work_dir / f"{table}.parquet"))
            con.execute(f"COPY {table} TO {target} (FORMAT parquet)")
            spark.read.parquet(str(work_dir / f"{table}.parquet")).createOrReplaceTempView(table)
        link_components(spark)
        plan_components(spark, config)
        for table in RESULT_TABLES:
            spark.sql(_RESULT_SQL[table]).write.mode("overwrite").parquet(str(work_dir / table))
            files = quote_literal(str(work_dir / table / "*.parquet"))
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_parquet({files})"
            )
    finally:
        # Dropping a view also frees what was cached for it: the session may live on.
        for view in _VIEWS:
            spark.catalog.dropTempView(view)


_VIEWS: tuple[str, ...] = ("ex", "registry", "links", "linked", "next_comp", "comp", "members")
_VIEWS += ("component_members", "component_plan")


def link_components(spark: SparkSession) -> None:
    """Temp view `comp` (node, comp): each group key and the smallest group key reachable
    through shared group keys or shared normalised payloads (min-label propagation)."""
    links = spark.sql(
        """
        SELECT DISTINCT dedup_key, group_key FROM ex
        WHERE dedup_key IN (SELECT dedup_key FROM ex GROUP BY dedup_key
                            HAVING min(group_key) <> max(group_key))
        """
    ).cache()
    links.createOrReplaceTempView("links")
    linked = spark.sql("SELECT DISTINCT group_key AS node, group_key AS comp FROM links")
    _propagate_min_labels(spark, linked.localCheckpoint()).createOrReplaceTempView("linked")
    spark.sql(
        """
        SELECT DISTINCT ex.group_key AS node, coalesce(linked.comp, ex.group_key) AS comp
        FROM ex LEFT JOIN linked ON ex.group_key = linked.node
        """
    ).cache().createOrReplaceTempView("comp")


def _propagate_min_labels(spark: SparkSession, linked: DataFrame) -> DataFrame:
    for _ in range(MAX_COMPONENT_ROUNDS):
        linked.createOrReplaceTempView("linked")
        # Checkpointed every round: otherwise each round's plan holds every earlier one.
        following = spark.sql(
            """
            WITH dedup_comp AS (
                SELECT links.dedup_key, min(linked.comp) AS comp
                FROM links JOIN linked ON links.group_key = linked.node
                GROUP BY links.dedup_key
            )
            SELECT links.group_key AS node, min(d.comp) AS comp
            FROM links JOIN dedup_comp AS d ON links.dedup_key = d.dedup_key
            GROUP BY links.group_key
            """
        ).localCheckpoint()
        following.createOrReplaceTempView("next_comp")
        moved = _spark_count(
            spark,
            "SELECT count(*) FROM linked JOIN next_comp ON linked.node = next_comp.node "
            "WHERE linked.comp <> next_comp.comp",
        )
        linked = following
        if not moved:
            return linked
    raise InvariantError("group/duplicate components did not converge")


def _spark_count(spark: SparkSession, query: str) -> int:
    """The count(*) of `query`, which always returns one row."""
    row = spark.sql(query).first()
    if row is None:
        raise InvariantError(f"expected one row, got none: {query}")
    return int(row[0])


def plan_components(spark: SparkSession, config: BayeslineConfig) -> None:
    """Temp views `members` (one row per example), `component_members` (counted per
    component, distribution and published split) and `component_plan` (one row per
    component), as splits._plan_components builds them."""
    # Cached, not checkpointed: each is computed once, by the first write that needs it.
    spark.sql(MEMBERS_SQL).cache().createOrReplaceTempView("members")
    spark.sql(
        "SELECT comp, is_target, published, count(*) AS n FROM members "
        "GROUP BY comp, is_target, published"
    ).cache().createOrReplaceTempView("component_members")
    salt = quote_literal(config.splits.salt)
    spark.sql(
        f"""
        WITH facts AS (
            SELECT comp,
                   {split_bucket_spark_sql(salt, "comp")} AS bucket,
                   bool_or(is_target) AS has_target,
                   count(DISTINCT published) FILTER (WHERE is_target) AS n_target_splits,
                   count(DISTINCT published) FILTER (WHERE NOT is_target) AS n_training_splits,
                   -- DuckDB takes any value; they differ only where the component holds
                   -- several, and then the leak rule excludes its new examples either way.
                   min(published) FILTER (WHERE is_target) AS target_published,
                   min(published) FILTER (WHERE NOT is_target) AS training_published
            FROM component_members GROUP BY comp
        ),
        {plan_from_facts_sql(config, split_bucket_spark_sql)}
        """
    ).cache().createOrReplaceTempView("component_plan")


_RESULT_SQL = {
    "assigned": f"""
        SELECT m.example_id, m.comp, {MEMBER_SPLIT_SQL} AS split,
               CASE WHEN m.published IS NULL THEN p.excluded_reason END AS excluded_reason
        FROM members AS m JOIN component_plan AS p ON m.comp = p.comp
    """,
    # Counted per component, distribution and split: what the fraction report needs.
    "component_outcomes": f"""
        SELECT comp, is_target, split, n,
               coalesce(split <> CASE WHEN is_target THEN fresh_target ELSE fresh_training END,
                        false) AS off_rule,
               NOT is_target AND has_target AND split = 'train_dev' AS held_out_with_group
        FROM (SELECT m.comp, m.is_target, m.n, p.fresh_target, p.fresh_training, p.has_target,
                     {MEMBER_SPLIT_SQL} AS split
              FROM component_members AS m JOIN component_plan AS p ON m.comp = p.comp)
    """,
}
