"""Slice metrics and low-performing slices on a planted dataset whose errors are known."""

from __future__ import annotations

import copy
from collections import Counter

import duckdb
import pytest

from evaluation.predictions import create_predictions_view, register_predictions
from evaluation.slices import (
    LowPerformingSlicesTable,
    SliceMetricsTable,
    compute_slice_metrics,
    find_low_performing_slices,
    wilson_sql,
    write_evaluation_tables,
)
from evaluation.stats import wilson_interval
from tests.conftest import SMALL_CONFIG, write_csv
from tests.test_predictions import write_predictions_csv
from warehouse.catalog import open_reader
from warehouse.config import parse_config
from warehouse.ingest import ingest_landing_files
from warehouse.splits import publish_split_version

HEADER = ["id", "user", "label", "text", "device", "lang"]
MODEL = "planted"


def slice_config(**evaluation):
    raw = copy.deepcopy(SMALL_CONFIG)
    raw["dataset"]["slice_columns"] = ["device", "lang"]
    raw["evaluation"] = {"min_slice_size": 10, **evaluation}
    return parse_config(raw)


def device_of(i: int) -> str:
    if i < 20:
        return "tablet"  # about 6 dev examples: below min_slice_size
    return {0: "android", 9: ""}.get(i % 10, "ios")  # "" lands as a missing value


def is_wrong(source: str, i: int) -> bool:
    """The planted errors: android is mostly wrong, the missing-device slice a little worse
    than overall (inside the noise), tablet always wrong, ios now and then."""
    if source == "web":
        return i % 10 == 0
    device = device_of(i)
    if device == "tablet":
        return True
    if device == "android":
        return i % 7 != 0
    if device == "":
        return i % 30 == 9
    return i % 10 == 3


def land_and_publish(layout, config) -> int:
    app = [
        (
            f"app-{i}",
            f"ua{i}",
            "neg" if i % 3 else "pos",
            f"app text {i}",
            device_of(i),
            "de" if i % 4 == 0 else "en",
        )
        for i in range(600)
    ]
    web = [
        (f"web-{i}", f"uw{i}", "pos" if i % 2 else "neg", f"web text {i}", "desktop", "en")
        for i in range(200)
    ]
    write_csv(layout.landing / "app" / "a.csv", app, HEADER)
    write_csv(layout.landing / "web" / "w.csv", web, HEADER)
    ingest_landing_files(layout, config)
    version = publish_split_version(layout, config).version
    assert version is not None  # the planted data always makes a version
    return version


def planted_examples(layout, config, version: int) -> list[dict]:
    """Every example of the version with its slices and whether the planted model errs on it."""
    with open_reader(layout, config) as con:
        rows = con.execute(
            "SELECT example_id, split, label, device, lang FROM splits WHERE version = ?", [version]
        ).fetchall()
    examples = []
    for example_id, split, label, device, lang in rows:
        source, number = example_id.split("-")
        wrong = is_wrong(source, int(number))
        predicted = ({"neg", "pos"} - {label}).pop() if wrong else label
        examples.append(
            {
                "id": example_id,
                "split": split,
                "device": device or "(missing)",
                "lang": lang,
                "wrong": wrong,
                "predicted": predicted,
            }
        )
    return examples


@pytest.fixture
def planted(layout, tmp_path):
    config = slice_config()
    version = land_and_publish(layout, config)
    examples = planted_examples(layout, config, version)
    source = write_predictions_csv(
        tmp_path / "planted.csv", [(e["id"], e["predicted"], 0.8) for e in examples]
    )
    register_predictions(layout, config, source, MODEL, version)
    return config, version, examples


def metrics(con, table: SliceMetricsTable) -> dict[tuple[str, str, str], tuple]:
    rows = con.execute(
        "SELECT split, slice_column, slice_value, n, errors, error_rate, ci_low, ci_high "
        f"FROM {table.name}"
    ).fetchall()
    return {row[:3]: row[3:] for row in rows}


def expected_counts(examples) -> dict[tuple[str, str, str], tuple[int, int]]:
    n: Counter[tuple[str, str, str]] = Counter()
    errors: Counter[tuple[str, str, str]] = Counter()
    for e in examples:
        for key in (("overall", "all"), ("device", e["device"]), ("lang", e["lang"])):
            n[(e["split"], *key)] += 1
            errors[(e["split"], *key)] += e["wrong"]
    return {key: (n[key], errors[key]) for key in n}


def low_performing(con, table: LowPerformingSlicesTable) -> list[dict]:
    cursor = con.execute(f"SELECT * FROM {table.name} ORDER BY rank NULLS LAST")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_slice_metrics_count_every_planted_error_per_split_and_slice(layout, planted):
    config, version, examples = planted
    with duckdb.connect() as con:
        counted = compute_slice_metrics(con, config, MODEL, version, layout=layout)
        found = metrics(con, counted)
    expected = expected_counts(examples)
    assert {k: v[:2] for k, v in found.items()} == expected
    for n, errors, rate, *_ in found.values():
        assert rate == errors / n
    assert {split for split, *_ in found} == {"train", "train_dev", "dev", "test"}
    assert found[("dev", "device", "(missing)")][0] > 0


def test_the_sql_wilson_interval_matches_the_python_one(layout, planted):
    config, version, _ = planted
    cases = [(e, n) for n in (1, 2, 3, 10, 37, 1000, 123_457) for e in {0, 1, n // 2, n - 1, n}]
    low, high = wilson_sql("e", "n")
    with duckdb.connect() as con:
        values = ", ".join(f"({e}, {n})" for e, n in cases)
        rows = con.execute(
            f"SELECT e, n, {low}, {high} FROM (VALUES {values}) AS t(e, n)"
        ).fetchall()
        counted = compute_slice_metrics(con, config, MODEL, version, layout=layout)
        table = metrics(con, counted).values()
    for e, n, sql_low, sql_high in rows:
        assert (sql_low, sql_high) == pytest.approx(wilson_interval(e, n), rel=1e-12, abs=1e-15)
    for n, errors, _, ci_low, ci_high in table:
        assert (ci_low, ci_high) == pytest.approx(wilson_interval(errors, n), rel=1e-12, abs=1e-15)


def test_slice_metrics_read_from_the_catalog_views_equal_those_read_from_the_lake(layout, planted):
    config, version, _ = planted
    with duckdb.connect() as con:
        counted = compute_slice_metrics(con, config, MODEL, version, layout=layout)
        from_lake = metrics(con, counted)
    with open_reader(layout, config) as con:
        create_predictions_view(con, layout)
        counted = compute_slice_metrics(con, config, MODEL, version)
        assert metrics(con, counted) == from_lake


def test_slice_pairs_cross_every_two_slice_columns(layout, planted):
    _, version, examples = planted
    config = slice_config(slice_pairs=True)
    with duckdb.connect() as con:
        counted = compute_slice_metrics(con, config, MODEL, version, layout=layout)
        found = metrics(con, counted)
    android_de = [
        e for e in examples if e["split"] == "dev" and (e["device"], e["lang"]) == ("android", "de")
    ]
    assert found[("dev", "device x lang", "android x de")][:2] == (
        len(android_de),
        sum(e["wrong"] for e in android_de),
    )


def test_the_planted_bad_slice_is_flagged_and_ranked_first(layout, planted):
    _, version, examples = planted
    config = slice_config(slice_pairs=True)
    with duckdb.connect() as con:
        counted = compute_slice_metrics(con, config, MODEL, version, layout=layout)
        low = find_low_performing_slices(con, config, counted)
        flagged = low_performing(con, low)
    dev = [e for e in examples if e["split"] == "dev"]
    android = [e for e in dev if e["device"] == "android"]
    first = flagged[0]
    assert (first["rank"], first["slice_column"], first["slice_value"]) == (1, "device", "android")
    assert (first["n"], first["errors"]) == (len(android), sum(e["wrong"] for e in android))
    assert first["overall_error_rate"] == sum(e["wrong"] for e in dev) / len(dev)
    assert first["gap"] == pytest.approx(first["error_rate"] - first["overall_error_rate"])
    assert first["errors_removable"] == pytest.approx(first["gap"] * first["n"])
    assert first["p_adjusted"] < config.evaluation.alpha and first["p_value"] <= first["p_adjusted"]
    # Ranks count findings only; android x de is weak only because android is (11 of 12
    # wrong against 4 of 5 in the rest of android), so it is shown under it, unranked.
    findings = [row for row in flagged if row["parent_slice_column"] is None]
    removable = [row["errors_removable"] for row in findings]
    assert removable == sorted(removable, reverse=True)
    assert [row["rank"] for row in findings] == list(range(1, len(findings) + 1))
    nested = {(r["slice_value"], r["parent_slice_value"], r["rank"]) for r in flagged} - {
        (r["slice_value"], None, r["rank"]) for r in findings
    }
    assert nested == {("android x de", "android", None)}


def test_a_slice_below_the_minimum_size_is_never_flagged_however_bad(layout, planted):
    config, version, _ = planted
    with duckdb.connect() as con:
        counted = compute_slice_metrics(con, config, MODEL, version, layout=layout)
        low = find_low_performing_slices(con, config, counted)
        tablet = metrics(con, counted)[("dev", "device", "tablet")]
        flagged = {(r["slice_column"], r["slice_value"]) for r in low_performing(con, low)}
    n, errors = tablet[:2]
    assert 0 < n < config.evaluation.min_slice_size and errors == n
    assert ("device", "tablet") not in flagged
    assert ("device", "android") in flagged  # the same run does flag the planted slice


def test_a_slice_worse_than_overall_only_within_the_noise_is_not_flagged(layout, planted):
    config, version, _ = planted
    with duckdb.connect() as con:
        counted = compute_slice_metrics(con, config, MODEL, version, layout=layout)
        low = find_low_performing_slices(con, config, counted)
        found = metrics(con, counted)
        flagged = {(r["slice_column"], r["slice_value"]) for r in low_performing(con, low)}
    missing, overall = found[("dev", "device", "(missing)")], found[("dev", "overall", "all")]
    assert missing[0] >= config.evaluation.min_slice_size
    assert missing[2] > overall[2]  # a real gap, but a small slice: not significant
    assert ("device", "(missing)") not in flagged
    assert ("device", "android") in flagged


def test_a_slice_no_worse_than_its_human_level_error_is_not_flagged(layout, planted):
    config, version, _ = planted
    with duckdb.connect() as con:
        counted = compute_slice_metrics(con, config, MODEL, version, layout=layout)
        android = metrics(con, counted)[("dev", "device", "android")]
        above_slice_error = {("device", "android"): android[2] + 0.01}
        low = find_low_performing_slices(con, config, counted, human_level=above_slice_error)
        with_high_human_level = low_performing(con, low)
        low = find_low_performing_slices(
            con, config, counted, human_level={("device", "android"): 0.05}
        )
        with_low_human_level = low_performing(con, low)
    assert ("device", "android") not in {
        (r["slice_column"], r["slice_value"]) for r in with_high_human_level
    }
    assert (
        with_low_human_level[0]["slice_value"],
        with_low_human_level[0]["human_level_error"],
    ) == ("android", 0.05)


def test_written_error_rates_equal_one_hand_written_query_over_the_lake_files(layout, planted):
    config, version, _ = planted
    with duckdb.connect() as con:
        counted = compute_slice_metrics(con, config, MODEL, version, layout=layout)
        low = find_low_performing_slices(con, config, counted)
        paths = write_evaluation_tables(con, layout, low)
    assert (
        paths["slice_metrics"]
        == layout.evaluation_dir / "slice_metrics" / f"{MODEL}__v0001.parquet"
    )
    with duckdb.connect() as con:
        written = con.execute(
            "SELECT split, slice_column, slice_value, error_rate "
            f"FROM read_parquet('{paths['slice_metrics']}')"
        ).fetchall()
        recomputed = con.execute(
            f"""
            SELECT s.split,
                   CASE WHEN grouping(dev) = 0 THEN 'device'
                        WHEN grouping(lang) = 0 THEN 'lang' ELSE 'overall' END,
                   CASE WHEN grouping(dev) = 0 THEN dev
                        WHEN grouping(lang) = 0 THEN lang ELSE 'all' END,
                   avg(CASE WHEN p.predicted_label = s.label THEN 0.0 ELSE 1.0 END)
            FROM (SELECT *, coalesce(device, '(missing)') AS dev
                  FROM read_parquet('{layout.splits_dir}/v0001/*.parquet')) AS s
            JOIN read_parquet('{layout.predictions_dir}/{MODEL}__v0001.parquet') AS p
              ON p.example_id = s.example_id
            GROUP BY GROUPING SETS ((s.split), (s.split, dev), (s.split, lang))
            """
        ).fetchall()
    assert len(written) == len(recomputed) > 4
    expected = {row[:3]: row[3] for row in recomputed}
    assert {row[:3]: row[3] for row in written} == pytest.approx(expected, abs=1e-12)


def test_writing_again_replaces_the_tables_for_the_same_pair(layout, planted):
    config, version, _ = planted
    with duckdb.connect() as con:
        counted = compute_slice_metrics(con, config, MODEL, version, layout=layout)
        low = find_low_performing_slices(con, config, counted)
        write_evaluation_tables(con, layout, low)
        low = find_low_performing_slices(
            con, config, counted, human_level={("device", "android"): 0.99}
        )
        paths = write_evaluation_tables(con, layout, low)
        flagged = con.execute(
            f"SELECT slice_value FROM read_parquet('{paths['low_performing_slices']}')"
        ).fetchall()
    assert ("android",) not in flagged
    assert sorted(p.name for p in paths["low_performing_slices"].parent.iterdir()) == [
        paths["low_performing_slices"].name
    ]
