"""`published_splits`: versioned train / train-dev / dev / test splits, and their invariants."""

import dagster as dg

from assets.ingest import WAREHOUSE_POOL
from assets.metadata import markdown_table
from assets.resources import BayeslineResource
from warehouse.catalog import open_reader, refresh_catalog
from warehouse.config import SPLITS
from warehouse.splits import publish_split_version, published_versions
from warehouse.versions import find_split_violations, load_manifest


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
    version = result.version if result.created else result.parent_version
    manifest = load_manifest(layout, version)
    # The manifest's JSON keys are sorted: pick every table column by name, never by position.
    changes = manifest["changes_vs_parent"]
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "new_version": result.created,
            **{f"n_{split}": manifest["counts"][split] for split in SPLITS},
            "changes_vs_parent": markdown_table(
                ["added", "removed", "changed", "excluded"],
                [
                    (
                        changes["added"],
                        changes["removed"],
                        changes["changed"],
                        manifest["excluded"]["n"],
                    )
                ],
            ),
            "counts_by_split_source_label": markdown_table(
                ["split", "source", "label", "n"],
                [
                    (r["split"], r["source"], r["label"], r["n"])
                    for r in manifest["counts_by_split_source_label"]
                ],
            ),
            "sql": dg.MetadataValue.md(
                f"```sql\nSELECT * FROM splits WHERE version = {version} AND split = 'dev'\n```"
            ),
            "path": dg.MetadataValue.path(str(layout.splits_dir / f"v{version:04d}")),
        },
        tags={"bayesline/split_version": str(version)},
    )


@dg.asset_check(
    asset=published_splits,
    description="The newest version has no training rows in dev/test and no group or "
    "duplicate spanning two splits.",
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
