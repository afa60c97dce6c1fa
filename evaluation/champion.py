"""The champion: the model version in production, with its history, and the promotion gate.

Each promotion appends one record to lake/evaluation/champions/ (the `champions` view): who
became champion, on which split version, since when, and whether the gate was forced. Until
someone promotes a model, the first registered model version (out of the box, the baseline)
is champion. A challenger is promoted only when its comparison with the champion shows no
significant regression on dev or test (after Holm), unless forced, which is recorded.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict, cast

import duckdb

from deployment.errors import BayeslineError
from evaluation.comparison import (
    REGRESSED,
    ComparisonError,
    ModelRef,
    Verdict,
    compare_models,
    resolve_model,
    slice_name,
)
from evaluation.predictions import list_model_versions
from warehouse.catalog import fetch_dicts, open_reader
from warehouse.config import BayeslineConfig
from warehouse.lake_tables import CHAMPIONS
from warehouse.layout import WarehouseLayout
from warehouse.schema import CHAMPION_COLUMNS
from warehouse.splits import published_versions
from warehouse.storage import write_lake_records, writer_lock


class PromotionRefused(BayeslineError, ValueError):
    """The gate refused a promotion; the message says why and how to proceed."""


@dataclass(frozen=True)
class Gate:
    """The latest comparison of a challenger with the champion, as the gate reads it."""

    champion: ModelRef
    challenger: ModelRef
    verdict: Verdict
    regressed_slices: list[str]


class ChampionRecord(TypedDict):
    """A CHAMPION_COLUMNS row: one promotion."""

    model_version: str
    split_version: int
    since: datetime
    previous_model_version: str | None
    previous_split_version: int | None
    forced: bool
    note: str


def champion_history(layout: WarehouseLayout, config: BayeslineConfig) -> list[ChampionRecord]:
    """Every promotion, oldest first."""
    with open_reader(layout, config) as con:
        rows = fetch_dicts(con, "SELECT * FROM champions ORDER BY since")
    # The champions view reads the files promote() writes: its columns are CHAMPION_COLUMNS.
    return cast(list[ChampionRecord], rows)


def current_champion(layout: WarehouseLayout, config: BayeslineConfig) -> ModelRef | None:
    """The last promoted model version, else the first registered one; None before any."""
    history = champion_history(layout, config)
    if history:
        last = history[-1]
        return ModelRef(last["model_version"], last["split_version"])
    with open_reader(layout, config) as con:
        first = con.execute(
            "SELECT model_version, split_version FROM predictions "
            "ORDER BY registered_at, model_version LIMIT 1"
        ).fetchone()
    return ModelRef(first[0], int(first[1])) if first else None


def challengers(layout: WarehouseLayout, champion: ModelRef | None) -> list[ModelRef]:
    """Every model version registered on the newest split version, except the champion."""
    versions = published_versions(layout)
    if champion is None or not versions:
        return []
    return [
        ModelRef(m, v)
        for m, v in list_model_versions(layout)
        if v == versions[-1] and ModelRef(m, v) != champion
    ]


def latest_gates(layout: WarehouseLayout, config: BayeslineConfig) -> list[Gate]:
    """The latest stored comparison of every challenger with the current champion."""
    champion = current_champion(layout, config)
    if champion is None:  # no model registered yet: nothing to challenge
        return []
    found = (latest_gate(layout, config, champion, c) for c in challengers(layout, champion))
    return [gate for gate in found if gate is not None]


def latest_gate(
    layout: WarehouseLayout, config: BayeslineConfig, champion: ModelRef, challenger: ModelRef
) -> Gate | None:
    """The stored comparison of this challenger with this champion, if one was made."""
    with open_reader(layout, config) as con:
        rows = fetch_dicts(
            con,
            "SELECT verdict, regressed_slices FROM model_comparison_summaries "
            "WHERE model_a = ? AND split_version_a = ? AND model_b = ? AND split_version_b = ? "
            "ORDER BY computed_at DESC LIMIT 1",
            [
                champion.model_version,
                champion.split_version,
                challenger.model_version,
                challenger.split_version,
            ],
        )
    if not rows:
        return None
    return Gate(champion, challenger, rows[0]["verdict"], json.loads(rows[0]["regressed_slices"]))


def promote(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    model_version: str,
    split_version: int | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> ChampionRecord:
    """Make a model version champion if the gate lets it through (or `force`); the record."""
    challenger = resolve_model(layout, model_version, split_version)
    champion = current_champion(layout, config)
    if champion == challenger:
        raise PromotionRefused(f"{challenger.label} is already the champion: nothing to do")
    note = (
        "first promotion"
        if champion is None
        else _gate_note(layout, config, champion, challenger, force)
    )
    record: ChampionRecord = {
        "model_version": challenger.model_version,
        "split_version": challenger.split_version,
        "since": (now or datetime.now(UTC)).replace(tzinfo=None),
        "previous_model_version": champion.model_version if champion else None,
        "previous_split_version": champion.split_version if champion else None,
        "forced": force and note.startswith("forced"),
        "note": note,
    }
    name = f"{record['since']:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"
    with writer_lock(layout):
        final = layout.table_dir(CHAMPIONS) / name
        write_lake_records(layout, CHAMPION_COLUMNS, [record], final, immutable=True)
    return record


def _gate_note(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    champion: ModelRef,
    challenger: ModelRef,
    force: bool,
) -> str:
    """Why the promotion may go ahead; raises PromotionRefused when it may not."""
    gate = latest_gate(layout, config, champion, challenger)
    if gate is None:
        try:
            comparison = compare_models(layout, config, champion, challenger)
        except (ComparisonError, duckdb.Error) as exc:
            if force:
                return f"forced without a comparison: {exc}"
            raise PromotionRefused(
                f"cannot compare {challenger.label} with the champion {champion.label}: {exc}; "
                "add --force to promote without a comparison (it is recorded)"
            ) from exc
        regressed = [slice_name(r) for r in comparison.regressions]
        gate = Gate(champion, challenger, comparison.verdict, regressed)
    if gate.verdict != REGRESSED:
        return f"passed the gate against {champion.label}: {gate.verdict}"
    slices = ", ".join(gate.regressed_slices)
    if force:
        return f"forced past a significant regression against {champion.label} on {slices}"
    raise PromotionRefused(
        f"refused: {challenger.label} is significantly worse than the champion "
        f"{champion.label} on {slices} (Holm-adjusted McNemar); fix those slices, or add "
        "--force to promote anyway (it is recorded)"
    )
