"""Column layout of the warehouse tables (the contract between ingestion, checks and splits)."""

from __future__ import annotations

from warehouse.config import DatasetConfig

#: Columns every example carries besides the dataset's own payload and slice columns.
EXAMPLE_KEY_COLUMNS = ("example_id", "source", "distribution", "group_key", "label")


REJECTED_ROW_COLUMNS = {
    "file_id": "VARCHAR",
    "source": "VARCHAR",
    "file_path": "VARCHAR",
    "line_number": "BIGINT",
    "raw": "VARCHAR",
    "error_type": "VARCHAR",
    "reason": "VARCHAR",
    "rejected_at": "TIMESTAMP",
}

INGESTED_FILE_COLUMNS = {
    "file_id": "VARCHAR",
    "source": "VARCHAR",
    "distribution": "VARCHAR",
    "file_path": "VARCHAR",
    "content_sha256": "VARCHAR",
    "size_bytes": "BIGINT",
    "status": "VARCHAR",
    "rows_read": "BIGINT",
    "rows_loaded": "BIGINT",
    "rows_rejected": "BIGINT",
    "reason": "VARCHAR",
    "ingested_at": "TIMESTAMP",
    "read_path": "VARCHAR",  # "duckdb", or "line_parser" where DuckDB's reader gave up
    "fallback_reason": "VARCHAR",
    # Rows identical to an example already stored (not loaded again, not rejected), and rows
    # loaded as a new revision of an example already stored (counted in rows_loaded too).
    "rows_already_present": "BIGINT",
    "rows_updated": "BIGINT",
}

#: One row per decision a person took about an ingested batch (landing file): kept forever,
#: the newest per file_id is in force.
BATCH_DECISION_COLUMNS = {
    "file_id": "VARCHAR",
    "source": "VARCHAR",
    "file_path": "VARCHAR",
    "decision": "VARCHAR",  # "exclude" or "accept"
    "reason": "VARCHAR",
    "decided_by": "VARCHAR",
    "decided_at": "TIMESTAMP",
}

SPLIT_VERSION_COLUMNS = {
    "version": "INTEGER",
    "parent_version": "INTEGER",
    "created_at": "TIMESTAMP",
    "n_train": "BIGINT",
    "n_train_dev": "BIGINT",
    "n_dev": "BIGINT",
    "n_test": "BIGINT",
    "n_added": "BIGINT",
    "n_removed": "BIGINT",
    "n_changed": "BIGINT",
    "n_excluded": "BIGINT",
    "config_hash": "VARCHAR",
    "manifest_sha256": "VARCHAR",
}


#: One row per range of each binned slice column of a split version (one row, bin NULL, for a
#: column sliced by value), recorded at publish: lake/splits/vNNNN/_meta/slice_bins.parquet.
SLICE_BIN_COLUMNS = {
    "split_version": "INTEGER",
    "slice_column": "VARCHAR",
    "kind": "VARCHAR",  # "number", "date", "timestamp" or "text", read from the values
    "n_distinct": "BIGINT",  # distinct present values in the version
    "edges_from": "VARCHAR",  # "quantiles", or NULL for a column sliced by value
    "bin": "INTEGER",  # 0, 1, ... in order of the values
    "slice_value": "VARCHAR",  # as slice_metrics shows it: '[45, 65)', the last '[65, 90]'
    "lower": "VARCHAR",  # the edges as SQL reads them: CAST(lower AS DOUBLE) (or DATE)
    "upper": "VARCHAR",
    "upper_closed": "BOOLEAN",  # true for the last bin: its upper edge is in it
}

# Evaluation tables: the lake stores them, evaluation/ computes them.
#: One row per (model version, example): what a model predicted on a published split version.
PREDICTION_COLUMNS = {
    "model_version": "VARCHAR",
    "split_version": "INTEGER",
    "example_id": "VARCHAR",
    "predicted_label": "VARCHAR",
    "score": "DOUBLE",  # the model's probability for predicted_label, when it gives one
    "registered_at": "TIMESTAMP",
    "probs": "MAP(VARCHAR, DOUBLE)",  # label -> probability (every label), when given
    # Whether the model was fit on this example (train only; false elsewhere); NULL: not said.
    "in_training_set": "BOOLEAN",
}

#: Model B against model A on the examples both predicted, per split and slice (B - A).
MODEL_COMPARISON_COLUMNS = {
    "model_a": "VARCHAR",
    "split_version_a": "INTEGER",
    "model_b": "VARCHAR",
    "split_version_b": "INTEGER",
    "split": "VARCHAR",
    "slice_column": "VARCHAR",
    "slice_value": "VARCHAR",
    "n": "BIGINT",  # examples both models predicted, in the same split in both versions
    "a_errors": "BIGINT",
    "b_errors": "BIGINT",
    "a_error_rate": "DOUBLE",
    "b_error_rate": "DOUBLE",
    "a_only_errors": "BIGINT",  # discordant: only A wrong
    "b_only_errors": "BIGINT",  # discordant: only B wrong
    "difference": "DOUBLE",  # b_error_rate - a_error_rate: positive means B is worse
    "ci_low": "DOUBLE",  # 95% Bonett-Price interval for paired proportions
    "ci_high": "DOUBLE",
    "p_value": "DOUBLE",  # exact McNemar
    "p_adjusted": "DOUBLE",  # Holm across every split and slice of the comparison
    "verdict": "VARCHAR",  # "regressed", "improved" or "no detectable difference"
    "min_detectable_difference": "DOUBLE",  # at alpha with 80% power, for this sample
    "computed_at": "TIMESTAMP",
}

#: One row per comparison: what was compared, left out, and the verdict on dev and test.
MODEL_COMPARISON_SUMMARY_COLUMNS = {
    "model_a": "VARCHAR",
    "split_version_a": "INTEGER",
    "model_b": "VARCHAR",
    "split_version_b": "INTEGER",
    "n_compared": "BIGINT",
    "left_out": "VARCHAR",  # JSON: reason -> examples
    "gap_changes": "VARCHAR",  # JSON: gap -> B's gap minus A's (null when not measurable)
    "regressed_slices": "VARCHAR",  # JSON list, dev and test only
    "improved_slices": "VARCHAR",  # JSON list, dev and test only
    "verdict": "VARCHAR",  # "regressed", "improved" or "no detectable difference"
    "computed_at": "TIMESTAMP",
}

#: The champion pointer's history: one row per promotion (the newest is the champion).
CHAMPION_COLUMNS = {
    "model_version": "VARCHAR",
    "split_version": "INTEGER",
    "since": "TIMESTAMP",
    "previous_model_version": "VARCHAR",
    "previous_split_version": "INTEGER",
    "forced": "BOOLEAN",  # promoted with --force past the gate
    "note": "VARCHAR",  # the gate's verdict, or why it was forced
}

#: Reliability of predicted probabilities: one row per split and confidence bin.
CALIBRATION_COLUMNS = {
    "model_version": "VARCHAR",
    "split_version": "INTEGER",
    "split": "VARCHAR",
    "bin": "INTEGER",  # 0..bins-1, equal-width bins of the top probability
    "bin_low": "DOUBLE",
    "bin_high": "DOUBLE",
    "n": "BIGINT",
    "mean_confidence": "DOUBLE",  # mean top probability in the bin
    "accuracy": "DOUBLE",  # share of the bin whose top-probability label is the gold label
    "ece": "DOUBLE",  # the split's expected calibration error (the same on each of its rows)
}

#: Learning curves: one row per slice x stage (train, train_dev, dev) x training-set size, for
#: a model retrained on nested parts of train (evaluation/learning_curves.py).
LEARNING_CURVE_COLUMNS = {
    "model_version": "VARCHAR",  # the baseline's name, or 'training-command' for your own
    "split_version": "INTEGER",
    "learner": "VARCHAR",  # 'built-in baseline' or the training command run
    "slice_column": "VARCHAR",
    "slice_value": "VARCHAR",
    "stage": "VARCHAR",
    "n_train": "BIGINT",  # examples the model was trained on
    "share_of_train": "DOUBLE",  # of the largest training set measured
    "n": "BIGINT",  # examples the error is measured on
    "errors": "BIGINT",
    "error_rate": "DOUBLE",
    "ci_low": "DOUBLE",  # 95% Wilson interval
    "ci_high": "DOUBLE",
    "fitted_error": "DOUBLE",  # the fitted power law at n_train
    "fitted_low": "DOUBLE",  # its 95% bootstrap band
    "fitted_high": "DOUBLE",
    "computed_at": "TIMESTAMP",
}

#: One row per slice x curve (train, train_dev, dev, variance): the fitted
#: error(n) = floor + scale_a * (n / n_largest)^(-exponent_b) and what more data buys. NULL
#: sizes mean never reached by more data of this kind (see `verdict`).
LEARNING_CURVE_FORECAST_COLUMNS = {
    "model_version": "VARCHAR",
    "split_version": "INTEGER",
    "learner": "VARCHAR",
    "slice_column": "VARCHAR",
    "slice_value": "VARCHAR",
    "curve": "VARCHAR",  # variance: train_dev - train error
    "n_largest": "BIGINT",  # the largest training set measured
    "n_train_available": "BIGINT",  # the train split's size (the largest set is capped)
    "error_at_largest": "DOUBLE",  # fitted
    "floor": "DOUBLE",  # c: the error more data of this kind tends to
    "floor_low": "DOUBLE",  # 95% bootstrap interval
    "floor_high": "DOUBLE",
    "scale_a": "DOUBLE",
    "exponent_b": "DOUBLE",
    "target_error": "DOUBLE",  # dev: human-level error; variance: half the gap at n_largest
    "n_needed": "BIGINT",  # training-set size at which the curve reaches the target
    "n_needed_low": "BIGINT",
    "n_needed_high": "BIGINT",  # NULL: the interval's upper end is never reached
    "more_examples": "BIGINT",  # n_needed - n_largest (0: reached already)
    "more_examples_low": "BIGINT",
    "more_examples_high": "BIGINT",
    "share_reachable": "DOUBLE",  # of bootstrap fits whose floor lies below the target
    "verdict": "VARCHAR",
    "computed_at": "TIMESTAMP",
}

#: The data-mismatch explainer (evaluation/distribution_shift.py). Training data: examples of
#: the training distribution in train and train-dev; target data: dev.
#: One row per slice column x value: its share in each, and the column's shift.
SLICE_SHIFT_COLUMNS = {
    "split_version": "INTEGER",
    "slice_column": "VARCHAR",
    "slice_value": "VARCHAR",  # as the version slices it (ranges for binned columns)
    "n_training": "BIGINT",
    "n_target": "BIGINT",
    "share_training": "DOUBLE",
    "share_target": "DOUBLE",
    "coverage": "DOUBLE",  # share_training / share_target; NULL when no target example has it
    "under_covered": "BOOLEAN",  # a target value training holds too little of (see module)
    "js_distance": "DOUBLE",  # the column's Jensen-Shannon distance, base 2 (0 same, 1 disjoint)
    "chi2": "DOUBLE",  # the column's chi-square statistic (training vs target counts)
    "dof": "INTEGER",
    "p_value": "DOUBLE",
    "p_holm": "DOUBLE",  # Holm-adjusted across the slice columns
    "column_shifted": "BOOLEAN",  # p_holm below 0.05
    "computed_at": "TIMESTAMP",
}

#: One row per split version and evaluated model: the domain classifier and the split of the
#: dev - train-dev gap into the part the shift in mix explains and the residual (95% intervals).
DISTRIBUTION_SHIFT_COLUMNS = {
    "split_version": "INTEGER",
    "model_version": "VARCHAR",  # whose predictions the errors are; NULL: none on train-dev
    "n_training": "BIGINT",  # train-dev examples the classifier saw (a sample by hash)
    "n_target": "BIGINT",  # dev examples it saw
    "folds": "INTEGER",
    "auc": "DOUBLE",  # cross-validated (out-of-fold) AUC of training vs target
    "auc_low": "DOUBLE",  # 95% group bootstrap interval
    "auc_high": "DOUBLE",
    "shift_detected": "BOOLEAN",  # auc_low above 0.5
    "columns_shifted": "INTEGER",  # slice columns whose mix differs (Holm, 5%)
    "train_dev_error": "DOUBLE",
    "weighted_train_dev_error": "DOUBLE",  # train-dev reweighted to the target's mix
    "weighted_low": "DOUBLE",
    "weighted_high": "DOUBLE",
    "dev_error": "DOUBLE",
    "gap": "DOUBLE",  # dev - train-dev
    "gap_low": "DOUBLE",
    "gap_high": "DOUBLE",
    "explained": "DOUBLE",  # weighted train-dev - train-dev: the part the mix explains
    "explained_low": "DOUBLE",
    "explained_high": "DOUBLE",
    "residual": "DOUBLE",  # dev - weighted train-dev: what the mix does not explain
    "residual_low": "DOUBLE",
    "residual_high": "DOUBLE",
    "effective_sample_size": "DOUBLE",  # of the weighted train-dev, (sum w)^2 / sum w^2
    "max_weight": "DOUBLE",  # weights are clipped at this
    "clipped_share": "DOUBLE",  # of train-dev examples whose weight was clipped
    "verdict": "VARCHAR",
    "computed_at": "TIMESTAMP",
}

#: The n-grams and slice values that most separate training from target examples.
SHIFT_FEATURE_COLUMNS = {
    "split_version": "INTEGER",
    "direction": "VARCHAR",  # 'target' or 'training': which side the feature points to
    "rank": "INTEGER",  # within its direction, strongest first
    "feature": "VARCHAR",  # an n-gram, or 'column = value'
    "kind": "VARCHAR",  # 'n-gram' or 'slice value'
    "coefficient": "DOUBLE",  # the classifier's weight (positive: target)
    "share_training": "DOUBLE",  # of training examples that have it
    "share_target": "DOUBLE",
    "computed_at": "TIMESTAMP",
}

#: Train examples of the training distribution, most target-like first: for reweighting or
#: selecting training data.
TARGET_LIKE_EXAMPLE_COLUMNS = {
    "split_version": "INTEGER",
    "rank": "BIGINT",
    "example_id": "VARCHAR",
    "source": "VARCHAR",
    "target_probability": "DOUBLE",  # the classifier's P(target | example), at equal priors
    "importance_weight": "DOUBLE",  # its density ratio target / training, clipped
    "computed_at": "TIMESTAMP",
}

#: Error per split, overall (slice_column = 'overall', slice_value = 'all') and per slice.
#: Pairs of slice columns read 'channel x language' / 'ios x en'.
SLICE_METRIC_COLUMNS = {
    "model_version": "VARCHAR",
    "split_version": "INTEGER",
    "split": "VARCHAR",
    "slice_column": "VARCHAR",
    "slice_value": "VARCHAR",
    "n": "BIGINT",
    "errors": "BIGINT",
    "error_rate": "DOUBLE",
    "ci_low": "DOUBLE",
    "ci_high": "DOUBLE",
}

#: Dev slices significantly worse than the overall dev error; findings ranked by errors removable.
LOW_PERFORMING_SLICE_COLUMNS = {
    "model_version": "VARCHAR",
    "split_version": "INTEGER",
    "rank": "INTEGER",
    "slice_column": "VARCHAR",
    "slice_value": "VARCHAR",
    "n": "BIGINT",
    "errors": "BIGINT",
    "error_rate": "DOUBLE",
    "ci_low": "DOUBLE",
    "ci_high": "DOUBLE",
    "overall_error_rate": "DOUBLE",
    "gap": "DOUBLE",  # error_rate - overall_error_rate
    "errors_removable": "DOUBLE",  # gap x n: dev errors gone if the slice matched overall
    "p_value": "DOUBLE",  # one-sided two-proportion z test, slice vs the rest of dev
    "p_adjusted": "DOUBLE",  # Holm-adjusted across every slice tested
    "human_level_error": "DOUBLE",  # on this slice, once human baselines exist
    # A pair not significantly worse than a flagged parent is shown under it (rank NULL);
    # NULL for a finding of its own. p_vs_parent: Holm-adjusted, the largest over its parents.
    "parent_slice_column": "VARCHAR",
    "parent_slice_value": "VARCHAR",
    "p_vs_parent": "DOUBLE",
}

#: One row per model version x split version x slice: the bias / variance / mismatch verdict.
DIAGNOSIS_COLUMNS = {
    "model_version": "VARCHAR",
    "split_version": "INTEGER",
    "slice_column": "VARCHAR",
    "slice_value": "VARCHAR",
    "human_level_error": "DOUBLE",
    "human_level_source": "VARCHAR",
    "train_error": "DOUBLE",
    "train_n": "BIGINT",
    "train_dev_error": "DOUBLE",
    "train_dev_n": "BIGINT",
    "dev_error": "DOUBLE",
    "dev_n": "BIGINT",
    "test_error": "DOUBLE",
    "test_n": "BIGINT",
    "avoidable_bias": "DOUBLE",
    "variance": "DOUBLE",
    "data_mismatch": "DOUBLE",
    "dev_overfitting": "DOUBLE",
    "problems": "VARCHAR",  # material gap keys, largest first, comma-separated
    "remedies": "VARCHAR",  # JSON object: problem -> list of remedies
    "caveats": "VARCHAR",  # JSON list
    "computed_at": "TIMESTAMP",
    "not_assessed": "VARCHAR",  # JSON object: gap -> the predictions that would assess it
    # Which train examples train_error is on and how they were chosen (evaluation/train_error.py);
    # the fitted target-distribution train examples are measured apart, for context.
    "train_measured_on": "VARCHAR",
    "target_in_train_error": "DOUBLE",
    "target_in_train_n": "BIGINT",
}

#: Whether each model version's evaluation step succeeded, and why not (one row per step).
EVALUATION_STATUS_COLUMNS = {
    "model_version": "VARCHAR",
    "split_version": "INTEGER",
    "step": "VARCHAR",  # "slice_metrics", "diagnosis" or "model_comparison"
    "status": "VARCHAR",  # "ok" or "failed"
    "reason": "VARCHAR",  # why it failed; empty when ok
    "recorded_at": "TIMESTAMP",
}


# Labeling tables: Label Studio annotations and what the platform makes of them.
LABELING_QUEUE_COLUMNS = {
    "example_id": "VARCHAR",
    "task_id": "BIGINT",
    "project_id": "BIGINT",
    "queue": "VARCHAR",  # "baseline": blind, several annotators per task
    "split": "VARCHAR",
    "slice_column": "VARCHAR",
    "slice_value": "VARCHAR",
    "priority": "DOUBLE",
    "split_version": "INTEGER",
    "queued_at": "TIMESTAMP",
}
HUMAN_ANNOTATION_COLUMNS = {
    "task_id": "BIGINT",
    "annotation_id": "BIGINT",
    "example_id": "VARCHAR",
    "annotator": "VARCHAR",
    "label": "VARCHAR",
    "lead_time_s": "DOUBLE",
    "created_at": "TIMESTAMP",
    "updated_at": "TIMESTAMP",
    "simulated": "BOOLEAN",
}
HUMAN_BASELINE_COLUMNS = {
    "split_version": "INTEGER",
    "slice_column": "VARCHAR",
    "slice_value": "VARCHAR",
    "n_examples": "BIGINT",
    "n_annotations": "BIGINT",
    "n_annotators": "BIGINT",
    "consensus_method": "VARCHAR",
    "consensus_error": "DOUBLE",
    "consensus_ci_low": "DOUBLE",
    "consensus_ci_high": "DOUBLE",
    "typical_annotator_error": "DOUBLE",
    "best_annotator_error": "DOUBLE",
    "krippendorff_alpha": "DOUBLE",
    "annotator_errors": "VARCHAR",  # JSON: annotator -> {"n", "error", "ci"}
    "simulated": "BOOLEAN",
}
LABEL_REVIEW_COLUMNS = {
    "split_version": "INTEGER",
    "example_id": "VARCHAR",
    "split": "VARCHAR",
    "gold_label": "VARCHAR",
    "consensus_label": "VARCHAR",
    "confidence": "DOUBLE",
    "consensus_method": "VARCHAR",
    "n_annotators": "BIGINT",
    "votes": "VARCHAR",  # JSON: label -> count
    "status": "VARCHAR",
}
LABEL_CORRECTION_COLUMNS = {
    "example_id": "VARCHAR",
    "split_version": "INTEGER",
    "old_label": "VARCHAR",
    "new_label": "VARCHAR",
    "accepted_at": "TIMESTAMP",
    "reason": "VARCHAR",
}


def example_columns(dataset: DatasetConfig) -> dict[str, str]:
    """Name -> DuckDB type of every column of the `examples` table, in order."""
    columns = {name: "VARCHAR" for name in EXAMPLE_KEY_COLUMNS}
    columns.update({name: "VARCHAR" for name in dataset.payload_columns})
    columns.update({name: "VARCHAR" for name in dataset.slice_columns})
    columns.update(
        {
            "content_hash": "VARCHAR",
            "dedup_key": "VARCHAR",
            "file_id": "VARCHAR",
            "line_number": "BIGINT",
            "ingested_at": "TIMESTAMP",
            "previous_file_id": "VARCHAR",
        }
    )
    return columns


def example_revision_columns(dataset: DatasetConfig) -> dict[str, str]:
    """Columns of the `example_revisions` view: every delivery of every example, numbered."""
    columns = example_columns(dataset)
    return {
        "example_id": columns.pop("example_id"),
        "revision": "BIGINT",
        "is_current": "BOOLEAN",
        "replaced_by_file_id": "VARCHAR",
        **columns,
    }
