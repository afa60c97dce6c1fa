"""Column layout of the evaluation tables, which the warehouse stores (see warehouse/schema.py).

All error rates are fractions in [0, 1]; intervals are 95% Wilson score intervals.
"""

from warehouse.schema import (
    DIAGNOSIS_COLUMNS,
    LOW_PERFORMING_SLICE_COLUMNS,
    PREDICTION_COLUMNS,
    SLICE_METRIC_COLUMNS,
)

__all__ = [
    "DIAGNOSIS_COLUMNS",
    "LOW_PERFORMING_SLICE_COLUMNS",
    "PREDICTION_COLUMNS",
    "SLICE_METRIC_COLUMNS",
]
