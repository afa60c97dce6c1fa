"""Bayesline's Dagster code location: `dagster dev -m assets.definitions`."""

import dagster as dg

from assets.evaluation import baseline_predictions, diagnosis, landed_predictions
from assets.ingest import build_landing_sensor, warehouse_examples
from assets.quality import examples_quality_gate
from assets.resources import BayeslineResource
from assets.splits import published_splits, splits_are_leakage_free

pipeline_job = dg.define_asset_job(
    "bayesline_pipeline",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, run the quality gate, publish a split version, "
    "and evaluate and diagnose the models on it.",
)

defs = dg.Definitions(
    assets=[
        warehouse_examples,
        published_splits,
        baseline_predictions,
        landed_predictions,
        diagnosis,
    ],
    asset_checks=[examples_quality_gate, splits_are_leakage_free],
    jobs=[pipeline_job],
    sensors=[build_landing_sensor(pipeline_job)],
    resources={"bayesline": BayeslineResource()},
)
