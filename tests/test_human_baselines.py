"""Human baselines and label review on simulated annotators with known error rates.

Annotators label 600 examples blind; each errs at a planted rate that is higher on the hard
slice (mobile) than on the easy one (desktop). The tables are Parquet files in tmp, read through
DuckDB views named as in the warehouse. The seed is fixed: every planted rate falls inside its
95% Wilson interval for this seed, so a failure means the code changed, not the dice.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import krippendorff
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluation.diagnosis_table import human_levels_from_baselines
from labeling.baselines import (
    MIN_ANNOTATIONS_PER_ANNOTATOR,
    HumanBaselineRow,
    compute_human_baselines,
    consensus_labels,
    krippendorff_alpha,
    load_annotations,
)
from labeling.review import accept_corrections, find_probable_label_errors
from tests.conftest import SMALL_CONFIG
from warehouse.config import parse_config

SEED = 20261124  # every planted rate lies in its 95% interval here (about 3 seeds in 4)
N_EXAMPLES = 600
LABELS = ("neg", "pos")
#: annotator -> planted error rate on the easy (desktop) and the hard (mobile) slice
PLANTED = {
    "ann_a": {"desktop": 0.02, "mobile": 0.10},
    "ann_b": {"desktop": 0.05, "mobile": 0.20},
    "ann_c": {"desktop": 0.10, "mobile": 0.30},
}
RANDOM = {name: {"desktop": 0.5, "mobile": 0.5} for name in PLANTED}  # coin flips, for binary
T0 = datetime(2026, 11, 1, 9, 0)

SPLITS_SCHEMA = pa.schema(
    [
        ("version", pa.int32()),
        ("split", pa.string()),
        ("example_id", pa.string()),
        ("label", pa.string()),
        ("device", pa.string()),
    ]
)
ANNOTATIONS_SCHEMA = pa.schema(
    [
        ("task_id", pa.int64()),
        ("annotation_id", pa.int64()),
        ("example_id", pa.string()),
        ("annotator", pa.string()),
        ("label", pa.string()),
        ("lead_time_s", pa.float64()),
        ("created_at", pa.timestamp("us")),
        ("updated_at", pa.timestamp("us")),
        ("simulated", pa.bool_()),
    ]
)


@dataclass
class Simulation:
    splits: list[dict] = field(default_factory=list)
    annotations: list[dict] = field(default_factory=list)
    flipped: list[str] = field(default_factory=list)

    def annotate(self, example_id: str, annotator: str, label: str | None, **changes) -> None:
        number = len(self.annotations) + 1
        row = {
            "task_id": int(example_id[1:]),
            "annotation_id": number,
            "example_id": example_id,
            "annotator": annotator,
            "label": label,
            "lead_time_s": 12.5,
            "created_at": T0 + timedelta(seconds=number),
            "updated_at": T0 + timedelta(seconds=number),
            "simulated": True,
        }
        self.annotations.append({**row, **changes})

    def example(self, example_id: str, gold: str, device: str) -> None:
        split = "dev" if int(example_id[1:]) % 2 else "test"
        row = {"split": split, "example_id": example_id, "label": gold, "device": device}
        self.splits.append({"version": 1, **row})


def simulate(rates=PLANTED, flips: int = 0, singles: int = 0, sparse: int = 0) -> Simulation:
    """Every annotator labels every example; `flips` gold labels the whole team contradicts."""
    rng = random.Random(SEED)
    sim = Simulation()
    for i in range(N_EXAMPLES):
        example_id, device = f"e{i:04d}", "desktop" if i < N_EXAMPLES // 2 else "mobile"
        gold = rng.choice(LABELS)
        sim.example(example_id, gold, device)
        for annotator, rate in rates.items():
            sim.annotate(
                example_id, annotator, _other(gold) if rng.random() < rate[device] else gold
            )
    for i in range(N_EXAMPLES, N_EXAMPLES + singles):  # one opinion each: no consensus
        sim.example(f"e{i:04d}", "neg", "desktop")
        sim.annotate(f"e{i:04d}", "ann_a", "pos")
    for i in range(sparse):  # an annotator seen on too few examples to judge, always wrong
        gold = sim.splits[N_EXAMPLES - 1 - i]["label"]
        sim.annotate(sim.splits[N_EXAMPLES - 1 - i]["example_id"], "ann_sparse", _other(gold))
    _flip_unanimous_gold(sim, flips)
    # Version 2 flips every gold label: reading it instead of version 1 would show at once.
    sim.splits += [{**row, "version": 2, "label": _other(row["label"])} for row in sim.splits]
    return sim


def _other(label: str) -> str:
    return LABELS[1 - LABELS.index(label)]


def _flip_unanimous_gold(sim: Simulation, flips: int) -> None:
    votes: dict[str, set[str]] = {}
    for row in sim.annotations:
        votes.setdefault(row["example_id"], set()).add(row["label"])
    for row in sim.splits:
        if len(sim.flipped) == flips:
            return
        if votes.get(row["example_id"]) == {row["label"]}:
            row["label"] = _other(row["label"])
            sim.flipped.append(row["example_id"])


def open_warehouse(directory: Path, sim: Simulation) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `splits` and `human_annotations` views over Parquet files."""
    directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for name, rows, schema in (
        ("splits", sim.splits, SPLITS_SCHEMA),
        ("human_annotations", sim.annotations, ANNOTATIONS_SCHEMA),
    ):
        path = directory / f"{name}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def by_slice(rows: list[HumanBaselineRow]) -> dict[tuple[str, str], HumanBaselineRow]:
    return {(r["slice_column"], r["slice_value"]): r for r in rows}


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Simulation:
    return simulate(singles=20, sparse=5)


@pytest.fixture(scope="module")
def baselines(planted, tmp_path_factory) -> dict[tuple[str, str], HumanBaselineRow]:
    con = open_warehouse(tmp_path_factory.mktemp("planted"), planted)
    return by_slice(compute_human_baselines(con, parse_config(SMALL_CONFIG), 1))


def test_each_annotators_measured_error_is_within_its_wilson_interval_of_the_planted_rate(
    baselines,
):
    for device in ("desktop", "mobile"):
        measured = json.loads(baselines[("device", device)]["annotator_errors"])
        for annotator, rates in PLANTED.items():
            low, high = measured[annotator]["ci"]
            assert measured[annotator]["n"] == N_EXAMPLES // 2
            assert low <= rates[device] <= high, (annotator, device, measured[annotator])


@pytest.mark.parametrize("method", ["dawid_skene", "majority_vote"])
def test_the_consensus_errs_less_than_the_typical_annotator(
    planted, small_config, tmp_path, method
):
    con = open_warehouse(tmp_path, planted)
    for row in compute_human_baselines(con, small_config, 1, method):
        assert row["consensus_method"] == method
        assert row["consensus_error"] < row["typical_annotator_error"], row
        assert row["consensus_ci_low"] <= row["consensus_error"] <= row["consensus_ci_high"]


def test_the_harder_slice_has_the_higher_consensus_error(baselines):
    easy, hard = baselines[("device", "desktop")], baselines[("device", "mobile")]
    assert hard["consensus_error"] > easy["consensus_ci_high"]
    assert hard["typical_annotator_error"] == pytest.approx(0.20, abs=0.06)


def test_alpha_is_high_for_good_annotators_and_near_zero_for_random_ones(
    baselines, small_config, tmp_path
):
    assert baselines[("device", "desktop")]["krippendorff_alpha"] > 0.7
    assert baselines[("overall", "all")]["krippendorff_alpha"] > 0.5
    con = open_warehouse(tmp_path, simulate(rates=RANDOM))
    coin_flips = by_slice(compute_human_baselines(con, small_config, 1))
    assert abs(coin_flips[("overall", "all")]["krippendorff_alpha"]) < 0.05


def test_alpha_equals_krippendorffs_alpha_over_the_annotator_by_example_matrix(planted, tmp_path):
    frame = load_annotations(open_warehouse(tmp_path, planted), 1)
    matrix = frame.pivot(index="annotator", columns="example_id", values="label")
    codes = matrix.apply(lambda column: column.map({"neg": 0.0, "pos": 1.0})).to_numpy(float)
    expected = krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal")
    assert krippendorff_alpha(frame, LABELS) == pytest.approx(expected, rel=1e-12)


def test_alpha_is_none_when_everyone_gives_one_label(planted, tmp_path):
    frame = load_annotations(open_warehouse(tmp_path, planted), 1)
    assert krippendorff_alpha(frame.assign(label="neg"), LABELS) is None


def test_examples_with_a_single_annotation_are_left_out(baselines, planted):
    overall = baselines[("overall", "all")]
    assert len({row["example_id"] for row in planted.annotations}) == N_EXAMPLES + 20
    assert overall["n_examples"] == N_EXAMPLES
    assert overall["n_annotations"] == N_EXAMPLES * len(PLANTED) + 5
    assert baselines[("device", "desktop")]["n_examples"] == N_EXAMPLES // 2


def test_annotators_with_fewer_than_ten_annotations_do_not_count_towards_typical_or_best(
    baselines,
):
    mobile = baselines[("device", "mobile")]
    measured = json.loads(mobile["annotator_errors"])
    assert measured["ann_sparse"] == {
        "n": 5,
        "error": 1.0,
        "ci": pytest.approx([0.566, 1.0], abs=1e-3),
    }
    assert MIN_ANNOTATIONS_PER_ANNOTATOR > 5
    assert mobile["n_annotators"] == 4
    assert mobile["typical_annotator_error"] == measured["ann_b"]["error"]
    assert mobile["best_annotator_error"] == measured["ann_a"]["error"]


def test_only_an_annotators_latest_annotation_of_an_example_counts(small_config, tmp_path):
    sim = Simulation()
    sim.example("e0001", "pos", "desktop")
    # ann_a's first annotation was edited last, so it is the one that counts, not the later id.
    sim.annotate("e0001", "ann_a", "pos", updated_at=T0 + timedelta(hours=2))
    sim.annotate("e0001", "ann_b", "pos")
    sim.annotate("e0001", "ann_a", "neg", updated_at=T0 + timedelta(hours=1))
    sim.annotate("e0001", "ann_c", None)  # skipped: no label given
    con = open_warehouse(tmp_path, sim)
    overall = by_slice(compute_human_baselines(con, small_config, 1))[("overall", "all")]
    assert (overall["n_examples"], overall["n_annotations"]) == (1, 2)
    assert json.loads(overall["annotator_errors"])["ann_a"]["error"] == 0.0


def test_baselines_read_the_gold_labels_of_the_requested_split_version(
    baselines, planted, small_config, tmp_path
):
    con = open_warehouse(tmp_path, planted)
    version_2 = by_slice(compute_human_baselines(con, small_config, 2))[("overall", "all")]
    version_1 = baselines[("overall", "all")]
    assert version_2["split_version"] == 2
    assert version_2["consensus_error"] == pytest.approx(1 - version_1["consensus_error"])


def test_majority_vote_breaks_ties_by_label_order_whatever_order_annotations_arrive_in(tmp_path):
    for order, (first, second) in enumerate([("pos", "neg"), ("neg", "pos")]):
        sim = Simulation()
        sim.example("e0001", "pos", "desktop")
        sim.annotate("e0001", "ann_a", first)
        sim.annotate("e0001", "ann_b", second)
        con = open_warehouse(tmp_path / str(order), sim)
        assert consensus_labels(con, 1, "majority_vote") == {"e0001": ("neg", 0.5)}


def test_an_unknown_consensus_method_is_refused(planted, small_config, tmp_path):
    con = open_warehouse(tmp_path, planted)
    with pytest.raises(ValueError, match="majority_vote"):
        compute_human_baselines(con, small_config, 1, method="mean")


@pytest.fixture(scope="module")
def review(tmp_path_factory):
    sim = simulate(flips=10)
    con = open_warehouse(tmp_path_factory.mktemp("review"), sim)
    return sim, con, find_probable_label_errors(con, parse_config(SMALL_CONFIG), 1)


def test_review_flags_every_planted_gold_label_error(review):
    sim, _, proposals = review
    flagged = {row["example_id"]: row for row in proposals}
    assert len(sim.flipped) == 10
    assert set(sim.flipped) <= set(flagged)
    for example_id in sim.flipped:
        row = flagged[example_id]
        assert row["consensus_label"] != row["gold_label"]
        assert row["status"] == "proposed" and row["n_annotators"] == 3
        assert row["confidence"] >= 0.9
        assert json.loads(row["votes"]) == {row["consensus_label"]: 3}


def test_review_does_not_flag_split_votes_even_when_dawid_skene_is_confident(review) -> None:
    sim, con, proposals = review
    gold = {row["example_id"]: row["label"] for row in sim.splits if row["version"] == 1}
    votes: dict[str, list[str]] = {}
    for row in sim.annotations:
        votes.setdefault(row["example_id"], []).append(row["label"])
    split = {example_id for example_id, labels in votes.items() if len(set(labels)) > 1}
    confident_against_gold = {
        example_id
        for example_id, (label, confidence) in consensus_labels(con, 1).items()
        if example_id in split and label != gold[example_id] and confidence >= 0.9
    }
    assert confident_against_gold  # the rule on agreement, not the confidence, keeps them out
    assert not split & {row["example_id"] for row in proposals}


def test_accepting_a_proposal_makes_a_correction_and_refuses_ids_never_proposed(review):
    sim, _, proposals = review
    when = datetime(2026, 11, 20, 12, 0)
    corrections = accept_corrections(proposals, [sim.flipped[0]], accepted_at=when)
    proposal = next(row for row in proposals if row["example_id"] == sim.flipped[0])
    assert corrections == [
        {
            "example_id": sim.flipped[0],
            "split_version": 1,
            "old_label": proposal["gold_label"],
            "new_label": proposal["consensus_label"],
            "accepted_at": when,
            "reason": corrections[0]["reason"],
        }
    ]
    assert "dawid_skene consensus of 3 annotators" in corrections[0]["reason"]
    with pytest.raises(ValueError, match="e9999"):
        accept_corrections(proposals, ["e9999"])


@pytest.mark.parametrize("simulated", [True, False])
def test_human_levels_say_whether_the_annotations_were_simulated(
    planted, small_config, tmp_path, simulated
):
    sim = Simulation(
        planted.splits, [{**row, "simulated": simulated} for row in planted.annotations]
    )
    rows = compute_human_baselines(open_warehouse(tmp_path, sim), small_config, 1)
    levels = human_levels_from_baselines(rows)
    source = "human_baselines (simulated)" if simulated else "human_baselines"
    assert set(levels) == {("overall", "all"), ("device", "desktop"), ("device", "mobile")}
    overall = levels[("overall", "all")]
    assert (overall.n, overall.source) == (N_EXAMPLES, source)
    assert overall.rate == by_slice(rows)[("overall", "all")]["consensus_error"]
    assert all(level.source == source for level in levels.values())


def test_the_review_thresholds_come_from_the_config(review):
    _, con, proposals = review
    assert proposals  # three annotators each: the default rule proposes the planted errors
    four_needed = copy.deepcopy(SMALL_CONFIG)
    four_needed["labeling"] = {"review_min_annotators": 4}
    assert find_probable_label_errors(con, parse_config(four_needed), 1) == []
