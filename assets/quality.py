"""The quality gate: Great Expectations suites on `examples`, as Dagster asset checks.

Error-severity checks are blocking, so `published_splits` is not materialised behind them.
"""

import dagster as dg

from assets.metadata import Metadata
from assets.resources import BayeslineResource
from quality.gate import CHECK_NAMES, CHECK_SEVERITIES, run_quality_checks
from quality.results import ERROR, CheckOutcome
from warehouse.catalog import open_reader

QUALITY_CHECK_SPECS = [
    dg.AssetCheckSpec(
        name,
        asset="examples",
        blocking=CHECK_SEVERITIES[name] == "error",
        description=f"{'Blocking' if CHECK_SEVERITIES[name] == 'error' else 'Warning'}: {name}",
    )
    for name in CHECK_NAMES
]


def _to_check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    severity = (
        dg.AssetCheckSeverity.ERROR if outcome.severity == ERROR else dg.AssetCheckSeverity.WARN
    )
    metadata: Metadata = {
        "description": outcome.description,
        "observed": dg.MetadataValue.json(outcome.observed),
        "failing_examples": dg.MetadataValue.json(outcome.failing_examples),
    }
    if outcome.remedy:
        metadata["what_to_do"] = outcome.remedy
    if outcome.observed.get("blocking_batches"):  # batches_have_sane_row_counts: decide
        metadata["blocking_batches"] = dg.MetadataValue.json(outcome.observed["blocking_batches"])
    return dg.AssetCheckResult(
        asset_key="examples",
        check_name=outcome.name,
        passed=outcome.passed,
        severity=severity,
        metadata=metadata,
    )


@dg.multi_asset_check(specs=QUALITY_CHECK_SPECS, can_subset=True)
def examples_quality_gate(context: dg.AssetCheckExecutionContext, bayesline: BayeslineResource):
    """Run the selected quality checks once: DuckDB counts violations, Great Expectations judges."""
    selected = {key.name for key in context.selected_asset_check_keys}
    layout, config = bayesline.layout(), bayesline.config()
    with open_reader(layout, config) as con:
        outcomes = run_quality_checks(con, config, names=[n for n in CHECK_NAMES if n in selected])
    for outcome in outcomes:
        yield _to_check_result(outcome)
