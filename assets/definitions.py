"""Bayesline's Dagster code location: `dagster dev -m assets.definitions`."""

import dagster as dg

from assets.batches import batch_decision_job
from assets.distribution_shift import distribution_shift
from assets.evaluation import baseline_predictions, diagnosis, landed_predictions, slice_analysis
from assets.ingest import build_landing_sensor, warehouse_examples
from assets.labeling import (
    build_annotation_sensor,
    human_annotations,
    human_baselines,
    label_review,
    labeling_queue,
)
from assets.learning_curves import learning_curves
from assets.model_comparison import challenger_does_not_regress_champion, model_comparison
from assets.quality import examples_quality_gate
from assets.resources import BayeslineResource, LabelStudioResource
from assets.runs import launch_host_tags
from assets.splits import (
    published_splits,
    splits_are_leakage_free,
    splits_follow_configured_fractions,
)

pipeline_job = dg.define_asset_job(
    "bayesline_pipeline",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, run the quality gate, publish a split version, "
    "evaluate and diagnose the models on it, and queue the weak slices for people.",
    tags=launch_host_tags(),
)
annotations_job = dg.define_asset_job(
    "bayesline_annotations",
    selection=dg.AssetSelection.assets("human_annotations").downstream(),
    description="Sync annotations from Label Studio and refresh the baselines and diagnosis.",
    tags=launch_host_tags(),
)

# Steps run one after another in the run's own process, from the UI as from the CLI. Each step
# of the multiprocess default would start a Python that imports Dagster, DuckDB, scikit-learn and
# Great Expectations again (8-15 s a step on 2 cores, about 25 steps), while the steps' real work
# is DuckDB's, already parallel inside one process, and writers take one pool slot at a time.
defs = dg.Definitions(
    executor=dg.in_process_executor,
    assets=[
        warehouse_examples,
        published_splits,
        baseline_predictions,
        landed_predictions,
        slice_analysis,
        diagnosis,
        learning_curves,
        distribution_shift,
        model_comparison,
        labeling_queue,
        human_annotations,
        human_baselines,
        label_review,
    ],
    asset_checks=[
        examples_quality_gate,
        splits_are_leakage_free,
        splits_follow_configured_fractions,
        challenger_does_not_regress_champion,
    ],
    jobs=[pipeline_job, annotations_job, batch_decision_job],
    sensors=[build_landing_sensor(pipeline_job), build_annotation_sensor(annotations_job)],
    resources={
        "bayesline": BayeslineResource(),
        "labelstudio": LabelStudioResource.from_environment(),
    },
)
