"""Every challenger against the champion, and the gate a promotion must pass."""

import base64

import dagster as dg

from assets.ingest import WAREHOUSE_POOL
from assets.metadata import Metadata, markdown_table, percent
from assets.resources import BayeslineResource
from evaluation.champion import challengers, current_champion, latest_gates
from evaluation.charts import comparison_chart
from evaluation.comparison import (
    Comparison,
    ModelRef,
    compare_models,
    slice_name,
    verdict_words,
)
from evaluation.diagnosis import GAP_NAMES
from evaluation.status import ModelFailure, evaluate_each, failure_summary
from warehouse.catalog import refresh_catalog
from warehouse.config import BayeslineConfig
from warehouse.layout import WarehouseLayout

SHOWN_ROWS = 15
COMPARISON_COLUMNS = [
    "split",
    "slice",
    "n",
    "champion",
    "challenger",
    "B - A",
    "95% interval",
    "p (Holm)",
    "verdict",
]
CHALLENGER_COLUMNS = [
    "challenger",
    "compared",
    "left out",
    "verdict (dev, test)",
    "regressed slices",
    "gap changes (B - A)",
]


@dg.asset(
    deps=["baseline_predictions", "landed_predictions"],
    group_name="evaluation",
    pool=WAREHOUSE_POOL,
    description="Every model version on the newest split version against the champion: "
    "paired per split and slice (exact McNemar, Holm), on the examples both predicted.",
)
def model_comparison(
    context: dg.AssetExecutionContext, bayesline: BayeslineResource
) -> dg.MaterializeResult:
    layout, config = bayesline.layout(), bayesline.config()
    champion = current_champion(layout, config)
    comparisons, failures = _compare_challengers(layout, config, champion)
    refresh_catalog(layout, config)
    for comparison in comparisons:
        context.log.info(f"{comparison.b.label} vs champion: {comparison.verdict}")
    metadata: Metadata = {
        "champion": champion.label if champion else "none (no model registered)",
        "challengers": markdown_table(
            CHALLENGER_COLUMNS,
            [_summary_row(c) for c in comparisons],
        ),
    }
    for comparison in comparisons[:5]:
        metadata.update(_detail(comparison))
    if failures:
        context.log_event(dg.AssetMaterialization(asset_key="model_comparison", metadata=metadata))
        raise dg.Failure(description=failure_summary(failures, "model_comparison"))
    return dg.MaterializeResult(metadata=metadata)


def _summary_row(c: Comparison) -> tuple:
    left_out = sum(c.left_out.values())
    regressed = ", ".join(slice_name(r) for r in c.regressions) or "—"
    changes = ", ".join(
        f"{GAP_NAMES[key].lower()} {100 * change:+.2f} pp"
        for key, change in c.gap_changes.items()
        if change is not None
    )
    return (c.b.label, c.n_compared, left_out, c.verdict, regressed, changes or "—")


def _compare_challengers(
    layout: WarehouseLayout, config: BayeslineConfig, champion: ModelRef | None
) -> tuple[list[Comparison], list[ModelFailure]]:
    """Each challenger against the champion, each on its own (a failure is that model's)."""
    if champion is None:  # no model version registered: no challenger either
        return [], []
    pairs = [(c.model_version, c.split_version) for c in challengers(layout, champion)]

    def compare(model_version: str, split_version: int) -> Comparison:
        return compare_models(layout, config, champion, ModelRef(model_version, split_version))

    return evaluate_each(layout, pairs, "model_comparison", compare)


def _detail(c: Comparison) -> Metadata:
    name = c.b.model_version
    png = comparison_chart(c.rows, f"{c.b.label} against champion {c.a.label}: dev error")
    chart = base64.b64encode(png).decode()
    table = markdown_table(
        COMPARISON_COLUMNS,
        [
            (
                r["split"],
                slice_name(r).split(": ", 1)[1],
                r["n"],
                percent(r["a_error_rate"]),
                percent(r["b_error_rate"]),
                f"{100 * r['difference']:+.2f} pp",
                f"{100 * r['ci_low']:+.2f} to {100 * r['ci_high']:+.2f}",
                f"{r['p_adjusted']:.2g}",
                verdict_words(r),
            )
            for r in c.rows[:SHOWN_ROWS]
        ],
    )
    return {
        f"{name}: comparison": table,
        f"{name}: chart": dg.MetadataValue.md(f"![versus champion](data:image/png;base64,{chart})"),
    }


@dg.asset_check(
    asset="model_comparison",
    description="Fails when a challenger is significantly worse than the champion on dev or "
    "test, overall or on any slice (Holm-adjusted exact McNemar); names the slices.",
)
def challenger_does_not_regress_champion(bayesline: BayeslineResource) -> dg.AssetCheckResult:
    layout, config = bayesline.layout(), bayesline.config()
    gates = latest_gates(layout, config)
    regressing = {g.challenger.label: g.regressed_slices for g in gates if g.regressed_slices}
    return dg.AssetCheckResult(
        passed=not regressing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "challengers_checked": len(gates),
            "regressing": dg.MetadataValue.json(regressing),
            "what_to_do": "a regressing challenger cannot be promoted without --force; "
            "see `bayesline compare` for its slices",
        },
    )
