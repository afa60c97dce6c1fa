"""The same deliveries published on DuckDB and on Spark give the same versions, bit for bit.

Two warehouses receive the same files, written here: groups with records of both
distributions, group keys in several scripts and normal forms, payloads shared across groups
(so components link several groups), numbers, blanks and junk in a sliced number column, and a
second delivery that joins published groups, starts new ones and bridges groups published in
different splits. One publishes with BAYESLINE_ENGINE unset (DuckDB), the other with
BAYESLINE_ENGINE=spark, in the session's local SparkSession (tests/spark_fixtures.py).
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from evaluation.pipeline import analyse_slices
from evaluation.predictions import register_predictions
from tests.conftest import SMALL_CONFIG, write_csv
from tests.test_predictions import write_predictions_csv
from warehouse.config import ConfigError, compute_engine, parse_config
from warehouse.hashing import split_bucket
from warehouse.ingest import ingest_landing_files
from warehouse.layout import WarehouseLayout
from warehouse.split_names import SPLITS
from warehouse.splits import publish_split_version, version_path

HEADER = ["id", "user", "label", "text", "device", "age", "weight"]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
MODEL = "model-ü 1"
#: Group keys in several scripts and both normal forms of é (distinct keys, distinct hashes).
KEY_STEMS = ["user", "ü", "名前", "🙂", "e\u0301", "\u00e9", "O'Brien", "a\\b", "tab\tkey"]
#: Payloads several groups send: they normalise alike, so their groups form one component.
SHARED_TEXTS = ["Great phone!!", "great   PHONE", "Broke in a day.", "broke in a DAY"]


def config():
    raw = copy.deepcopy(SMALL_CONFIG)
    # age is binned by quantiles, weight by the config's cut points (open-ended outer bins).
    raw["dataset"]["slice_columns"] = ["device", "age", "weight"]
    raw["evaluation"] = {"slice_pairs": True, "min_slice_size": 10}
    raw["slices"] = {"edges": {"weight": [50, 80.5]}}
    return parse_config(raw)


def delivery(rng: random.Random, users: list[str], first_id: int, n: int) -> dict[str, list]:
    """Rows for the target source `app` and the training source `web`: about half the users
    send both kinds of record."""
    files: dict[str, list] = {"app": [], "web": []}
    for i in range(first_id, first_id + n):
        user = rng.choice(users)
        both = split_bucket("mix", user) % 2 == 0
        source = rng.choice(["app", "web"]) if both else ("app" if len(user) % 2 else "web")
        shared = rng.random() < 0.03
        text = rng.choice(SHARED_TEXTS) if shared else f"review {i} by {user}: {rng.random()}"
        age = rng.choice(["", str(rng.randint(16, 90)), f"{rng.uniform(16, 90):.1f}"])
        weight = rng.choice(["", "n/a", "80.5", f"{rng.uniform(40, 120):.2f}"])
        device = rng.choice(["ios", "android", "web's"])
        label = rng.choice(["pos", "neg"])
        files[source].append((f"ex-{i}", user, label, text, device, age, weight))
    return files


def land(layout: WarehouseLayout, files: dict[str, list], name: str) -> None:
    for source, rows in files.items():
        write_csv(layout.landing / source / name, rows, HEADER)
    ingest_landing_files(layout, config())


def published(layout: WarehouseLayout, version: int) -> dict[str, list]:
    """Every table of a version, rows sorted, and its manifest."""
    path = version_path(layout, version)
    con = duckdb.connect()
    tables = {
        name: con.execute(f"SELECT {columns} FROM read_parquet('{glob}') ORDER BY ALL").fetchall()
        for name, (glob, columns) in {
            # ingested_at is when each warehouse ingested its copy of the files: a timing field.
            "examples": (path / "*.parquet", "* EXCLUDE (ingested_at)"),
            "assignments": (path / "_meta" / "assignments.parquet", "*"),
            "changes": (path / "_meta" / "changes.parquet", "*"),
            "excluded": (path / "_meta" / "excluded.parquet", "*"),
            "slice_bins": (path / "_meta" / "slice_bins.parquet", "*"),
        }.items()
    }
    return tables | {"manifest": json.loads((path / "_meta" / "manifest.json").read_text())}


@pytest.fixture(scope="module")
def two_warehouses(tmp_path_factory, spark):
    """The same two deliveries published by each engine; returns both warehouses (built once:
    the tests below only read them, or write predictions under their own model version)."""
    tmp_path = tmp_path_factory.mktemp("two-warehouses")
    rng = random.Random(16)
    users = [f"{stem}-{i}" for stem in KEY_STEMS for i in range(40)]
    first = delivery(rng, users, 0, 2_000)
    joining = users[:200] + [f"new-{stem}-{i}" for stem in KEY_STEMS for i in range(10)]
    second = delivery(rng, joining, 2_000, 600)
    homes = {}
    for engine in ("duckdb", "spark"):
        with pytest.MonkeyPatch.context() as env:
            env.setenv("BAYESLINE_ENGINE", engine)
            layout = WarehouseLayout(tmp_path / engine).ensure()
            land(layout, first, "day1.csv")
            assert publish_split_version(layout, config(), now=NOW).version == 1
            land(layout, second, "day2.csv")
            assert publish_split_version(layout, config(), now=NOW).version == 2
        homes[engine] = layout
    return homes


def test_spark_and_duckdb_publish_the_same_versions(two_warehouses):
    for version in (1, 2):
        on_duckdb = published(two_warehouses["duckdb"], version)
        on_spark = published(two_warehouses["spark"], version)
        assert on_duckdb["manifest"].pop("engine") == "duckdb"
        assert on_spark["manifest"].pop("engine") == "spark"
        # The same rows in every file (compared above, sorted), written in another order:
        # the files' bytes and digests are the one thing that may differ.
        files = {
            tuple(sorted(m.pop("files"))) for m in (on_spark, on_duckdb) for m in [m["manifest"]]
        }
        assert files == {tuple(sorted(f"{split}.parquet" for split in SPLITS))}
        assert on_spark == on_duckdb

    # The data really exercised the rule: linked groups, held-out training records of groups
    # in dev or test, examples that joined published groups, and an excluded bridge.
    manifest = published(two_warehouses["spark"], 2)["manifest"]
    assert manifest["excluded"]["n"] > 0
    assert manifest["fractions"]["training"]["held_out_with_their_group"] > 0
    assert manifest["fractions"]["training"]["kept_from_earlier_versions"] > 0
    assert manifest["changes_vs_parent"]["added"] > 0
    examples = published(two_warehouses["spark"], 2)["examples"]
    first = {row[2]: row[1] for row in published(two_warehouses["spark"], 1)["examples"]}
    assert all(first[row[2]] == row[1] for row in examples if row[2] in first)


def test_spark_and_duckdb_count_the_same_slice_metrics(two_warehouses, monkeypatch, tmp_path):
    rng = random.Random(7)
    ids = [row[2] for row in published(two_warehouses["duckdb"], 2)["examples"]]
    predictions = write_predictions_csv(
        tmp_path / "predictions.csv",
        [(i, rng.choice(["pos", "neg"]), round(rng.random(), 3)) for i in ids],
    )
    metrics = {}
    for engine, layout in two_warehouses.items():
        monkeypatch.setenv("BAYESLINE_ENGINE", engine)
        register_predictions(layout, config(), predictions, MODEL, 2)
        metrics[engine], _ = analyse_slices(layout, config(), MODEL, 2)

    assert len(metrics["spark"]) == len(metrics["duckdb"]) > 20
    slice_columns = {row["slice_column"] for row in metrics["spark"]}
    assert {"overall", "device", "age", "weight", "device x age"} <= slice_columns
    values = {row["slice_value"] for row in metrics["spark"]}
    assert {"(not a number)", "(missing)", "[80.5, inf)", "web's"} <= values
    assert any(v.startswith("[") and v.endswith("]") for v in values)  # a quantile range
    for on_spark, on_duckdb in zip(metrics["spark"], metrics["duckdb"], strict=True):
        exact = {k: v for k, v in on_duckdb.items() if not isinstance(v, float)}
        assert {k: on_spark[k] for k in exact} == exact
        for key in ("error_rate", "ci_low", "ci_high"):
            assert on_spark[key] == pytest.approx(on_duckdb[key], abs=1e-12, rel=0)


def test_an_unknown_engine_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv("BAYESLINE_ENGINE", "polars")
    with pytest.raises(ConfigError, match="set it to duckdb or spark"):
        compute_engine()
    monkeypatch.delenv("BAYESLINE_ENGINE")
    assert compute_engine() == "duckdb"


def test_the_written_files_are_where_the_duckdb_path_writes_them(two_warehouses):
    names = {
        engine: sorted(str(p.relative_to(layout.splits_dir)) for p in layout.splits_dir.rglob("*"))
        for engine, layout in two_warehouses.items()
    }
    assert names["spark"] == names["duckdb"]
    assert not any(Path(n).name.startswith(".") for n in names["spark"])
