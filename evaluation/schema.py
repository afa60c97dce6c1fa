"""Column layout of the evaluation tables (the contract between their writers and readers).

All error rates are fractions in [0, 1]; intervals are 95% Wilson score intervals.
"""

#: One row per (model version, example): what a model predicted on a published split version.
PREDICTION_COLUMNS = {
    "model_version": "VARCHAR",
    "split_version": "INTEGER",
    "example_id": "VARCHAR",
    "predicted_label": "VARCHAR",
    "score": "DOUBLE",  # the model's probability for predicted_label, when it gives one
    "registered_at": "TIMESTAMP",
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

#: Dev slices significantly worse than the overall dev error, ranked by errors removable.
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
}
