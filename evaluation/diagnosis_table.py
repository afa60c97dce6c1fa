"""The `diagnosis` table: the bias / variance / mismatch verdict overall and for every slice."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from evaluation.diagnosis import Diagnosis, ErrorRate, MaterialityRule, diagnose
from evaluation.train_error import TrainMeasure
from warehouse.catalog import fetch_dicts
from warehouse.slice_names import OVERALL, SliceKey
from warehouse.split_names import SPLITS

STAGES = SPLITS


@dataclass(frozen=True)
class HumanLevel:
    """Human-level error on one slice (or overall), and where the number comes from."""

    rate: float
    n: int | None
    source: str  # "human_baselines", "configured" or "assumed"


#: Human-level error per slice, as the diagnosis, the slice finder and the curves take it.
HumanLevels = dict[SliceKey, HumanLevel]
#: A DIAGNOSIS_COLUMNS row, column -> value.
DiagnosisRow = dict[str, Any]
BASELINES_SOURCE = "human_baselines"


def warehouse_human_levels(
    con: duckdb.DuckDBPyConnection, configured: float | None, split_version: int
) -> HumanLevels:
    """Human-level error per slice of a split version: the annotators' consensus error where
    Label Studio measured it (table human_baselines), else the configured value."""
    rows = fetch_dicts(
        con, "SELECT * FROM human_baselines WHERE split_version = ?", [split_version]
    )
    return human_levels_from_config(configured) | human_levels_from_baselines(rows)


def human_levels_from_config(configured: float | None) -> HumanLevels:
    """The configured human-level error applies overall and, lacking better, to every slice."""
    if configured is None:
        return {}
    return {OVERALL: HumanLevel(configured, None, "configured")}


def human_levels_from_baselines(rows: Iterable[Mapping[str, Any]]) -> HumanLevels:
    """The consensus error of every slice with examples, as the diagnosis's human level."""
    levels = {}
    for row in rows:
        n = int(row["n_examples"] or 0)
        if n < 1 or row["consensus_error"] is None:
            continue
        source = f"{BASELINES_SOURCE} (simulated)" if row["simulated"] else BASELINES_SOURCE
        levels[(row["slice_column"], row["slice_value"])] = HumanLevel(
            float(row["consensus_error"]), n, source
        )
    return levels


def human_levels_from_diagnosis(diagnosis_rows: Iterable[Mapping[str, Any]]) -> HumanLevels:
    """The human-level errors a stored diagnosis used, so a report repeats its verdicts."""
    return {
        (r["slice_column"], r["slice_value"]): HumanLevel(
            r["human_level_error"], None, r["human_level_source"]
        )
        for r in diagnosis_rows
    }


def _human_level_for(
    key: tuple[str, str], human_levels: Mapping[tuple[str, str], HumanLevel]
) -> HumanLevel:
    if key in human_levels:
        return human_levels[key]
    if OVERALL in human_levels:
        overall = human_levels[OVERALL]
        return HumanLevel(overall.rate, None, f"{overall.source} (overall value)")
    return HumanLevel(0.0, None, "assumed 0: set [evaluation] human_level_error")


def diagnose_slices(
    slice_metric_rows: Iterable[Mapping[str, Any]],
    human_levels: Mapping[tuple[str, str], HumanLevel],
    *,
    model_version: str,
    split_version: int,
    computed_at: datetime,
    rule: MaterialityRule | None = None,
    train_measures: Mapping[tuple[str, str], TrainMeasure] | None = None,
) -> tuple[list[DiagnosisRow], Diagnosis]:
    """One DIAGNOSIS_COLUMNS row per slice (overall first) and the overall Diagnosis.

    With `train_measures` (evaluation.train_error), train error is theirs: on the examples the
    model was fit on, from train-dev's distribution. Without, it is the slice metrics' error
    over every train prediction.
    """
    by_slice: dict[tuple[str, str], dict[str, ErrorRate]] = {}
    for row in slice_metric_rows:
        key = (row["slice_column"], row["slice_value"])
        if row["n"]:
            by_slice.setdefault(key, {})[row["split"]] = ErrorRate(row["error_rate"], row["n"])
    if OVERALL not in by_slice:
        raise ValueError(
            f"no slice metrics for {model_version!r} on split version {split_version}: "
            "materialise slice_metrics first (`bayesline materialize --select slice_metrics+`)"
        )
    rows: list[DiagnosisRow] = []
    results: dict[SliceKey, Diagnosis] = {}
    for key in sorted(by_slice, key=lambda k: (k != OVERALL, k)):
        stages, human = dict(by_slice[key]), _human_level_for(key, human_levels)
        measure = (train_measures or {}).get(key)
        if train_measures is not None:
            stages.pop("train", None)
            if measure is not None and measure.error is not None:
                stages["train"] = measure.error
        # Any subset of splits gets a row: the gaps it allows, and what would assess the rest.
        result = diagnose(
            human_level=ErrorRate(human.rate, human.n),
            train=stages.get("train"),
            dev=stages.get("dev"),
            train_dev=stages.get("train_dev"),
            test=stages.get("test"),
            human_level_source=human.source,
            rule=rule or MaterialityRule(),
            train_measured_on=measure.measured_on if measure else None,
            train_assumed=measure.assumed if measure else False,
            target_in_train=measure.target_in_train if measure else None,
        )
        results[key] = result
        rows.append(_row(key, human, stages, result, model_version, split_version, computed_at))
    return rows, results[OVERALL]


def _row(
    key: SliceKey,
    human: HumanLevel,
    stages: Mapping[str, ErrorRate],
    result: Diagnosis,
    model_version: str,
    split_version: int,
    computed_at: datetime,
) -> DiagnosisRow:
    gaps = {gap.key: gap.value for gap in result.gaps}
    target = result.target_in_train
    row: DiagnosisRow = {
        "model_version": model_version,
        "split_version": split_version,
        "slice_column": key[0],
        "slice_value": key[1],
        "human_level_error": human.rate,
        "human_level_source": human.source,
    }
    for stage in STAGES:
        measured = stages.get(stage)
        row[f"{stage}_error"] = measured.rate if measured else None
        row[f"{stage}_n"] = measured.n if measured else None
    row.update(
        {
            "avoidable_bias": gaps.get("avoidable_bias"),
            "variance": gaps.get("variance"),
            "data_mismatch": gaps.get("data_mismatch"),
            "dev_overfitting": gaps.get("dev_overfitting"),
            "problems": ", ".join(result.problems),
            "remedies": json.dumps(result.remedies),
            "caveats": json.dumps(result.caveats),
            "not_assessed": json.dumps(result.not_assessed),
            "computed_at": computed_at,
            "train_measured_on": result.train_measured_on,
            "target_in_train_error": target.rate if target else None,
            "target_in_train_n": target.n if target else None,
        }
    )
    return row
