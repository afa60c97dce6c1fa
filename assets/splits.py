"""`published_splits`: versioned train / train-dev / dev / test splits, and their invariants."""

import base64

import dagster as dg

from assets.ingest import WAREHOUSE_POOL
from assets.metadata import markdown_table, percent
from assets.resources import BayeslineResource
from evaluation.charts import split_fractions_chart
from warehouse.catalog import open_reader, refresh_catalog
from warehouse.split_fractions import (
    FRACTION_TOLERANCE,
    fraction_rows,
    judge_split_fractions,
)
from warehouse.split_manifest import SplitManifest
from warehouse.split_names import DISTRIBUTIONS, SPLITS
from warehouse.splits import publish_split_version, published_versions, version_location
from warehouse.versions import find_split_violations, read_manifest


@dg.asset(
    deps=["examples"],
    group_name="splits",
    pool=WAREHOUSE_POOL,
    description="Immutable split versions under lake/splits/vNNNN (SQL: splits, split_versions).",
)
def published_splits(
    context: dg.AssetExecutionContext, bayesline: BayeslineResource
) -> dg.MaterializeResult:
    layout, config = bayesline.layout(), bayesline.config()
    result = publish_split_version(layout, config)
    refresh_catalog(layout, config)
    context.log.info(result.message)
    version = result.latest_version
    manifest = read_manifest(layout, version)
    changes = manifest.changes
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "new_version": result.created,
            **{f"n_{split}": manifest.counts[split] for split in SPLITS},
            "changes_vs_parent": markdown_table(
                ["added", "removed", "changed", "excluded"],
                [(changes.added, changes.removed, changes.changed, manifest.excluded.n)],
            ),
            "counts_by_split_source_label": markdown_table(
                ["split", "source", "label", "n"],
                [
                    (r["split"], r["source"], r["label"], r["n"])
                    for r in manifest.counts_by_split_source_label
                ],
            ),
            **_fraction_metadata(manifest),
            "sql": dg.MetadataValue.md(
                f"```sql\nSELECT * FROM splits WHERE version = {version} AND split = 'dev'\n```"
            ),
            "path": dg.MetadataValue.path(version_location(layout, version)),
        },
        tags={"bayesline/split_version": str(version)},
    )


def _fraction_metadata(manifest: SplitManifest) -> dict[str, dg.MetadataValue]:
    """Each split's realised share of its distribution beside the configured one, as a table
    and a chart, and why they differ (versions published before fractions were recorded have
    none)."""
    fractions = manifest.fractions
    if fractions is None:
        return {}
    rows = fraction_rows(fractions)
    png = base64.b64encode(split_fractions_chart(list(rows), "Split fractions")).decode()
    why = [f"- {d}: {reason}" for d in DISTRIBUTIONS for reason in fractions[d]["why"]]
    return {
        "fractions": markdown_table(
            ["distribution", "split", "configured", "realised", "n"],
            [(d, split, percent(c, 1), percent(r, 1), n) for d, split, c, r, n in rows],
        ),
        "fractions_chart": dg.MetadataValue.md(f"![split fractions](data:image/png;base64,{png})"),
        "fractions_why": dg.MetadataValue.md(
            "\n".join(why)
            or f"Every split is within {100 * fractions['tolerance']:g} points of its configured "
            "share."
        ),
    }


@dg.asset_check(
    asset=published_splits,
    description="The newest version has no training rows in dev/test, no target rows in "
    "train-dev, and no group or near-duplicate in train beside another split or in both dev "
    "and test.",
)
def splits_are_leakage_free(bayesline: BayeslineResource) -> dg.AssetCheckResult:
    layout, config = bayesline.layout(), bayesline.config()
    versions = published_versions(layout)
    if not versions:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "no version published"})
    with open_reader(layout, config) as con:
        violations = find_split_violations(con, versions[-1])
    return dg.AssetCheckResult(
        passed=not any(violations.values()),
        metadata={
            "version": versions[-1],
            **{name: dg.MetadataValue.json(rows) for name, rows in violations.items()},
        },
    )


@dg.asset_check(
    asset=published_splits,
    description="Warning: each split's realised share of its distribution is within "
    f"{100 * FRACTION_TOLERANCE:g} points of the configured fraction; otherwise says by how much "
    "and why.",
)
def splits_follow_configured_fractions(bayesline: BayeslineResource) -> dg.AssetCheckResult:
    layout = bayesline.layout()
    versions = published_versions(layout)
    if not versions:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"description": "no split version published yet"},
        )
    verdict = judge_split_fractions(read_manifest(layout, versions[-1]))
    metadata: dict[str, dg.MetadataValue | str | int] = {
        "version": versions[-1],
        "description": verdict.description,
        "fractions": dg.MetadataValue.json([list(row) for row in verdict.rows]),
    }
    if verdict.remedy:
        metadata["what_to_do"] = verdict.remedy
    return dg.AssetCheckResult(
        passed=verdict.passed, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
    )
