"""The rows of the learning-curve tables, as evaluation/curve_forecasts.py builds them and
evaluation/learning_curves.py stores and draws them (columns: warehouse/schema.py
LEARNING_CURVE_COLUMNS and LEARNING_CURVE_FORECAST_COLUMNS).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NotRequired, TypedDict

#: The splits each retrained model is measured on (a subset of warehouse.split_names.SplitName).
CurveStage = Literal["train", "train_dev", "dev"]
#: A fitted curve: a stage's error, or the variance gap (train-dev minus train error).
CurveName = Literal["train", "train_dev", "dev", "variance"]


class LearningCurveRun(TypedDict):
    """The columns every row of one measurement shares."""

    model_version: str
    split_version: int
    learner: str
    computed_at: datetime


class FittedBand(TypedDict):
    """The fitted power law at a measured size, with its 95% bootstrap band."""

    fitted_error: float
    fitted_low: float
    fitted_high: float


class LearningCurvePoint(LearningCurveRun):
    """A LEARNING_CURVE_COLUMNS row: one stage's error on one slice at one training size."""

    slice_column: str
    slice_value: str
    stage: CurveStage
    n_train: int
    share_of_train: float
    n: int
    errors: int
    error_rate: float
    ci_low: float
    ci_high: float
    # Set once the curves are fitted; a point whose curve could not be fitted has none.
    fitted_error: NotRequired[float]
    fitted_low: NotRequired[float]
    fitted_high: NotRequired[float]


class FitColumns(TypedDict):
    """The fitted error(n) = floor + scale_a * (n / n_largest)^(-exponent_b)."""

    error_at_largest: float
    floor: float
    floor_low: float
    floor_high: float
    scale_a: float
    exponent_b: float


class ForecastColumns(TypedDict):
    """What more data buys: None where the curve is drawn but not forecast, or never
    reaches its target."""

    target_error: float | None
    n_needed: int | None
    n_needed_low: int | None
    n_needed_high: int | None
    more_examples: int | None
    more_examples_low: int | None
    more_examples_high: int | None
    share_reachable: float | None
    verdict: str


class LearningCurveForecast(LearningCurveRun, FitColumns, ForecastColumns):
    """A LEARNING_CURVE_FORECAST_COLUMNS row: one slice's fitted curve and its forecast."""

    slice_column: str
    slice_value: str
    curve: CurveName
    n_largest: int
    n_train_available: int
