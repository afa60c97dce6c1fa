"""The data-mismatch explainer: how training and target data differ, and what that explains."""

import base64

import dagster as dg

from assets.ingest import WAREHOUSE_POOL
from assets.metadata import markdown_table, percent
from assets.resources import BayeslineResource
from evaluation.distribution_shift import (
    DistributionShiftError,
    measure_distribution_shift,
    mismatch_line,
)
from evaluation.shift_tables import FEATURE_HEADER, SLICE_HEADER, feature_cells, slice_cells
from warehouse.catalog import refresh_catalog
from warehouse.splits import published_versions


@dg.asset(
    deps=["diagnosis"],
    group_name="evaluation",
    pool=WAREHOUSE_POOL,
    description="Training vs target data: each slice value's share (Jensen-Shannon, chi-square "
    "with Holm), a domain classifier's cross-validated AUC and separating features, the "
    "dev - train-dev gap split into what the shift in mix explains and the residual, and the "
    "train examples most like the target (tables slice_shift, distribution_shift, "
    "shift_features, target_like_examples).",
)
def distribution_shift(
    context: dg.AssetExecutionContext, bayesline: BayeslineResource
) -> dg.MaterializeResult:
    layout, config = bayesline.layout(), bayesline.config()
    versions = published_versions(layout)
    if not versions:
        return _not_measured(context, "no split version is published yet")
    try:
        shift = measure_distribution_shift(layout, config, versions[-1])
    except DistributionShiftError as exc:
        # Too little data to compare is no reason to fail the pipeline around it.
        return _not_measured(context, str(exc))
    refresh_catalog(layout, config)
    summary = shift.summary
    line = mismatch_line(summary, shift.slices)
    context.log.info(line)
    png = base64.b64encode(shift.chart_path.read_bytes()).decode()
    return dg.MaterializeResult(
        metadata={
            "split_version": shift.split_version,
            "model_version": summary["model_version"] or "none with train-dev predictions",
            "shift_detected": summary["shift_detected"],
            "auc": f"{summary['auc']:.3f} ({summary['auc_low']:.3f} to {summary['auc_high']:.3f})",
            "data_mismatch": line,
            "effective_sample_size": "—"
            if summary["effective_sample_size"] is None
            else f"{summary['effective_sample_size']:,.0f} of {summary['n_training']:,}",
            "weights_clipped": percent(summary["clipped_share"]),
            "slices": markdown_table(SLICE_HEADER, slice_cells(shift.slices)),
            "separating_features": markdown_table(FEATURE_HEADER, feature_cells(shift.features)),
            "target_like_examples": shift.n_ranked,
            "chart": dg.MetadataValue.md(f"![distribution shift](data:image/png;base64,{png})"),
            "chart_path": dg.MetadataValue.path(str(shift.chart_path)),
        }
    )


def _not_measured(context: dg.AssetExecutionContext, why: str) -> dg.MaterializeResult:
    context.log.warning(f"distribution shift not measured: {why}")
    return dg.MaterializeResult(metadata={"not_measured": why})
