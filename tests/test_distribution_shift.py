"""The data-mismatch explainer on warehouses built from rows the test makes (not the demo
generator): a planted shift through a real Dagster run, and a control with no shift."""

from __future__ import annotations

import random

import dagster as dg
import pytest

from assets.run import materialize_pipeline
from bayesline.runner import ensure_dagster_home
from evaluation.distribution_shift import measure_distribution_shift, mismatch_line
from evaluation.domain_classifier import FOLDS, component_folds
from evaluation.pipeline import write_model_report
from tests.conftest import SMALL_CONFIG, small_config_toml, write_csv
from warehouse.catalog import fetch_dicts, open_reader
from warehouse.config import load_config, parse_config
from warehouse.ingest import ingest_landing_files
from warehouse.splits import publish_split_version

POSITIVE = ("great", "love", "excellent", "happy", "sturdy", "works")
NEGATIVE = ("awful", "hate", "broken", "sad", "flimsy", "fails")
NEUTRAL = ("the", "item", "arrived", "today", "box", "colour", "size", "price", "my", "it")
PLANTED_WORD = "checkout"  # a word of target examples that training examples never use...
N_PLANTED = 40  # ...except these, which are otherwise like the target: device web


def review(rng: random.Random, device: str, extra: tuple[str, ...] = ()) -> tuple[str, str]:
    """(label, text): the words point to the label 95% of the time, on `web` only 60%, so
    the model errs on web whichever source the example comes from."""
    label = rng.choice(("pos", "neg"))
    agree = 0.6 if device == "web" else 0.95
    own, other = (POSITIVE, NEGATIVE) if label == "pos" else (NEGATIVE, POSITIVE)
    words = [rng.choice(own if rng.random() < agree else other) for _ in range(3)]
    words += [*rng.sample(NEUTRAL, 4), *extra]
    rng.shuffle(words)
    return label, " ".join(words)


def land_source(
    layout, source: str, prefix: str, n: int, web_share: float, seed: int, word_share: float = 0
) -> None:
    """`n` reviews, `web_share` of them on the web device, `word_share` with PLANTED_WORD."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        device = "web" if rng.random() < web_share else rng.choice(("ios", "android"))
        extra = (PLANTED_WORD,) if rng.random() < word_share else ()
        label, text = review(rng, device, extra)
        rows.append((f"{prefix}{i}", f"{prefix}u{i // 2}", label, text, device))
    write_csv(layout.landing / source / "reviews.csv", rows)


def land_planted(layout) -> None:
    """Training examples that look like the target: device web and the target's word."""
    rng = random.Random(11)
    rows = []
    for i in range(N_PLANTED):
        label, text = review(rng, "web", (PLANTED_WORD,))
        rows.append((f"p{i}", f"pu{i}", label, text, "web"))
    write_csv(layout.landing / "web" / "planted.csv", rows)


@pytest.fixture
def shifted_run(layout, tmp_path, monkeypatch):
    """One Dagster run over a planted shift: training (web) rarely on the `web` device, the
    target (app) half on it, and the model weak on `web` in both."""
    config_path = tmp_path / "bayesline.toml"
    config_path.write_text(small_config_toml(evaluation={"min_slice_size": 20}))
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config_path))
    ensure_dagster_home(layout)
    land_source(layout, "web", "w", 2400, web_share=0.08, seed=1)
    land_source(layout, "app", "a", 1800, web_share=0.5, seed=2, word_share=0.5)
    land_planted(layout)
    outcome = materialize_pipeline("*distribution_shift")
    assert outcome.success, outcome.events
    return load_config(config_path)


@pytest.mark.slow
def test_a_planted_shift_is_found_explained_and_its_target_like_examples_ranked_first(
    layout, shifted_run
):
    config = shifted_run
    with open_reader(layout, config) as con:
        summary = fetch_dicts(con, "SELECT * FROM distribution_shift")
        web = con.execute(
            "SELECT share_training, share_target, under_covered, column_shifted "
            "FROM slice_shift WHERE slice_column = 'device' AND slice_value = 'web'"
        ).fetchone()
        planted_in_train = {
            r[0]
            for r in con.execute(
                "SELECT example_id FROM splits WHERE split = 'train' AND example_id LIKE 'p%'"
            ).fetchall()
        }
        top = [
            r[0]
            for r in con.execute(
                "SELECT example_id FROM target_like_examples ORDER BY rank LIMIT ?",
                [len(planted_in_train)],
            ).fetchall()
        ]
        word = con.execute(
            "SELECT rank FROM shift_features WHERE direction = 'target' AND feature = ?",
            [PLANTED_WORD],
        ).fetchone()
    (row,) = summary
    # (a) a shift, and an explained part of the gap whose interval excludes zero.
    assert row["shift_detected"] and row["auc_low"] > 0.6
    assert web[2] and web[3] and web[0] < 0.15 < 0.35 < web[1]
    assert row["gap"] > 0 and row["explained_low"] > 0 and row["explained"] > 0.5 * row["gap"]
    assert row["weighted_train_dev_error"] > row["train_dev_error"]
    assert 0 < row["effective_sample_size"] < row["n_training"]
    assert word is not None and word[0] <= 3  # the target's own word separates them
    # (c) the planted target-like training examples lead the ranking.
    assert len(planted_in_train) >= 20
    assert len(planted_in_train & set(top)) >= 0.8 * len(planted_in_train)
    # Dagster shows it, and the report and the remedy name what to collect.
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("distribution_shift"))
        metadata = event.asset_materialization.metadata
    assert metadata["shift_detected"].value is True
    assert "device = web" in metadata["slices"].value
    assert metadata["chart"].value.startswith("![distribution shift](data:image/png;base64,")
    assert "Collect more target-like examples of: device = web" in metadata["data_mismatch"].value
    html_text = write_model_report(layout, config).read_text()
    assert "Training vs target data" in html_text and "target_like_examples" in html_text


def test_a_control_without_shift_is_not_called_a_shift(layout):
    config = parse_config(SMALL_CONFIG)
    # Both sources from one generator: the same device mix, the same words.
    land_source(layout, "web", "w", 1500, web_share=0.3, seed=3)
    land_source(layout, "app", "a", 1500, web_share=0.3, seed=4)
    ingest_landing_files(layout, config)
    publish_split_version(layout, config)
    shift = measure_distribution_shift(layout, config)
    summary = shift.summary
    assert summary["auc_low"] < 0.5 < summary["auc_high"]
    assert not summary["shift_detected"]
    assert summary["model_version"] is None and summary["explained"] is None  # no predictions
    assert not any(r["under_covered"] for r in shift.slices)
    line = mismatch_line(summary, shift.slices)
    assert line.startswith("Data mismatch: No shift detected") and "Collect" not in line


def test_folds_keep_a_group_and_a_repeated_text_whole():
    groups = ["u1", "u1", "u2", "u3", "u4", *(f"v{i}" for i in range(200))]
    texts = ["a", "b", "b", "c", "d", *(f"t{i}" for i in range(200))]  # u2 repeats u1's "b"
    folds, components = component_folds("salt", groups, texts)
    assert len(set(folds[:3])) == 1 and len(set(components[:3])) == 1
    assert components[3] != components[0]
    assert set(folds) == set(range(FOLDS))  # 200 components fill every fold
    again, _ = component_folds("salt", groups[::-1], texts[::-1])
    assert again[::-1].tolist() == folds.tolist()  # the same folds in any order
