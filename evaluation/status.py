"""Each model version is evaluated on its own: one model's failure never stops another's.

`evaluate_each` runs one evaluation step for every (model version, split version) pair,
records whether it worked in lake/evaluation/evaluation_status/ (the `evaluation_status` view),
and hands back the results and the failures, so the caller can finish the others and then
fail loudly, naming the models that failed and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypedDict, TypeVar

from evaluation.predictions import safe_model_version
from warehouse.lake_tables import EVALUATION_STATUS
from warehouse.layout import WarehouseLayout
from warehouse.schema import EVALUATION_STATUS_COLUMNS
from warehouse.storage import write_lake_records

Step = Literal["slice_metrics", "diagnosis", "model_comparison"]
StepStatus = Literal["ok", "failed"]
Result = TypeVar("Result")


class EvaluationStatusRow(TypedDict):
    """An EVALUATION_STATUS_COLUMNS row: whether one pair's step worked."""

    model_version: str
    split_version: int
    step: Step
    status: StepStatus
    reason: str  # why it failed; empty when ok
    recorded_at: datetime


@dataclass(frozen=True)
class ModelFailure:
    """One model version whose evaluation step raised, and why."""

    model_version: str
    split_version: int
    step: Step
    reason: str

    @property
    def message(self) -> str:
        return f"{self.model_version} on split v{self.split_version}: {self.reason}"


def evaluate_each(
    layout: WarehouseLayout,
    pairs: Iterable[tuple[str, int]],
    step: Step,
    evaluate: Callable[[str, int], Result],
) -> tuple[list[Result], list[ModelFailure]]:
    """Run `evaluate(model_version, split_version)` for every pair, each on its own.

    Args:
        layout: The warehouse, where each pair's status is recorded.
        pairs: (model version, split version) pairs to evaluate.
        step: Which evaluation step this is, for the status record.
        evaluate: The step for one pair.

    Returns:
        The results of the pairs that worked, and the failures of those that did not.
    """
    results: list[Result] = []
    failures: list[ModelFailure] = []
    for model_version, split_version in pairs:
        try:
            results.append(evaluate(model_version, split_version))
        except Exception as exc:  # any error of one model is that model's alone
            failure = ModelFailure(model_version, split_version, step, _reason(exc))
            failures.append(failure)
            record_status(layout, model_version, split_version, step, failure.reason)
        else:
            record_status(layout, model_version, split_version, step, None)
    return results, failures


def failure_summary(failures: list[ModelFailure], step: Step) -> str:
    """One line naming every failed model version, for the step's failure."""
    names = "; ".join(f.message for f in failures)
    return (
        f"{step} failed for {len(failures)} model version(s), the others are stored: {names}. "
        "Fix or re-register those predictions, then materialise again "
        "(see `SELECT * FROM evaluation_status`)."
    )


def record_status(
    layout: WarehouseLayout,
    model_version: str,
    split_version: int,
    step: Step,
    reason: str | None,
) -> None:
    """Replace the pair's status record for this step (an atomic write)."""
    record: EvaluationStatusRow = {
        "model_version": model_version,
        "split_version": split_version,
        "step": step,
        "status": "failed" if reason else "ok",
        "reason": reason or "",
        "recorded_at": datetime.now(UTC).replace(tzinfo=None),
    }
    name = f"{safe_model_version(model_version)}__v{split_version:04d}__{step}.parquet"
    folder = layout.table_dir(EVALUATION_STATUS)
    write_lake_records(layout, EVALUATION_STATUS_COLUMNS, [record], folder / name)


def _reason(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"
