"""Loading a split version for training: `from bayesline import load_split, load_splits`.

Real warehouses in tmp dirs (landed, ingested, published by the library), the real `datasets`
package; every figure is checked against SQL over the published version.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bayesline import iter_split_batches, load_split, load_splits, version_of
from handoff.pinning import TamperedVersionError, UnknownSplitError
from tests.conftest import one_row, write_csv
from tests.test_predictions import build_warehouse
from warehouse.catalog import open_reader
from warehouse.ingest import ingest_landing_files
from warehouse.splits import publish_split_version, version_path
from warehouse.versions import UnknownVersionError

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def private_datasets_cache(tmp_path, monkeypatch):
    """`datasets` writes caches and locks: into the test's tmp dir, not the user's home."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


def review_rows(prefix: str, n: int, device: str, first_label: str = "pos") -> list[tuple]:
    """(id, user, label, text, device): one user each, texts that share no normalised form."""
    other = "neg" if first_label == "pos" else "pos"
    return [
        (
            f"{prefix}{i:03d}",
            f"u-{prefix}{i}",
            first_label if i % 3 else other,
            f"{prefix} {i} ok",
            device,
        )
        for i in range(n)
    ]


@pytest.fixture
def warehouse(layout, small_config):
    """Version 1 from two sources; a second delivery publishes version 2."""
    version = build_warehouse(
        layout, small_config, review_rows("app", 90, "ios"), review_rows("web", 50, "desktop")
    )
    assert version == 1
    write_csv(layout.landing / "app" / "later.csv", review_rows("late", 30, "android", "neg"))
    ingest_landing_files(layout, small_config)
    assert publish_split_version(layout, small_config).version == 2
    return layout


def sql_rows(layout, config, version: int, split: str) -> dict[str, str]:
    """example_id -> label of one split of a version, by SQL over the `splits` view."""
    with open_reader(layout, config) as con:
        return dict(
            con.execute(
                "SELECT example_id, label FROM splits WHERE version = ? AND split = ?",
                [version, split],
            ).fetchall()
        )


def sql_sizes(layout, config, version: int) -> dict[str, int]:
    with open_reader(layout, config) as con:
        row = one_row(
            con.execute(
                "SELECT n_train, n_train_dev, n_dev, n_test FROM split_versions WHERE version = ?",
                [version],
            )
        )
    return dict(zip(("train", "train_dev", "dev", "test"), row, strict=True))


def tamper(path) -> None:
    """Flip one label in a published file: still valid Parquet, other bytes."""
    table = pq.read_table(path)
    labels = table.column("label").to_pylist()
    labels[0] = "neg" if labels[0] == "pos" else "pos"
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    path.chmod(0o644)
    pq.write_table(table, path)


def test_a_split_loads_as_arrow_and_pandas_with_the_rows_sql_sees(warehouse, small_config):
    expected = sql_rows(warehouse, small_config, 1, "dev")
    table = load_split(1, "dev", config=small_config)
    assert dict(zip(table["example_id"].to_pylist(), table["label"].to_pylist(), strict=True)) == (
        expected
    )
    assert version_of(table) == 1 and set(table["version"].to_pylist()) == {1}
    frame = load_split("v0001", "dev", as_="pandas", config=small_config)
    assert dict(zip(frame["example_id"], frame["label"], strict=True)) == expected
    assert version_of(frame) == 1
    assert {"source", "group_key", "device", "text"} <= set(frame.columns)


def test_load_splits_gives_a_datasetdict_with_the_label_as_a_classlabel(warehouse, small_config):
    splits = load_splits(2, config=small_config)
    assert isinstance(splits, datasets.DatasetDict)
    assert list(splits) == ["train", "train_dev", "dev", "test"]
    assert {name: part.num_rows for name, part in splits.items()} == sql_sizes(
        warehouse, small_config, 2
    )
    for name, part in splits.items():
        label = part.features["label"]
        assert isinstance(label, datasets.ClassLabel) and label.names == ["neg", "pos"]
        loaded = dict(zip(part["example_id"], label.int2str(part["label"]), strict=True))
        assert loaded == sql_rows(warehouse, small_config, 2, name)
        assert {"source", "group_key", "device"} <= set(part.column_names)
        assert version_of(part) == 2


def test_the_fingerprint_is_keyed_on_the_versions_content(warehouse, small_config):
    first = load_split(1, "train", as_="hf", config=small_config)
    again = load_split(1, "train", as_="hf", config=small_config)
    newer = load_split(2, "train", as_="hf", config=small_config)
    assert first._fingerprint == again._fingerprint != newer._fingerprint
    assert load_split(1, "dev", as_="hf", config=small_config)._fingerprint != first._fingerprint


def test_latest_resolves_to_the_newest_version_and_the_loaded_object_says_which(
    warehouse, small_config
):
    assert version_of(load_split("latest", "train", config=small_config)) == 2
    assert version_of(load_split("latest", "test", as_="hf", config=small_config)) == 2
    assert iter_split_batches("latest", "dev").version == 2
    assert all(version_of(part) == 2 for part in load_splits(config=small_config).values())


def test_a_split_streams_in_bounded_record_batches(warehouse, small_config):
    batches = iter_split_batches(2, "train", batch_rows=7)
    seen = [batch for batch in batches]
    assert seen and all(isinstance(b, pa.RecordBatch) and b.num_rows <= 7 for b in seen)
    ids = [i for b in seen for i in b.column("example_id").to_pylist()]
    assert sorted(ids) == sorted(sql_rows(warehouse, small_config, 2, "train"))
    assert batches.num_rows == len(ids) and batches.version == 2
    stream = load_split(2, "dev", as_="hf", streaming=True, config=small_config)
    assert isinstance(stream, datasets.IterableDataset) and version_of(stream) == 2
    names = stream.features["label"].names
    streamed = {row["example_id"]: names[row["label"]] for row in stream}
    assert streamed == sql_rows(warehouse, small_config, 2, "dev")


def test_a_tampered_file_is_refused_naming_it(warehouse, small_config):
    tamper(version_path(warehouse, 1) / "dev.parquet")
    for load in (
        lambda: load_split(1, "dev", config=small_config),
        lambda: load_splits(1, config=small_config),
        lambda: iter_split_batches(1, "dev"),
    ):
        with pytest.raises(TamperedVersionError, match=r"splits/v0001/dev\.parquet does not match"):
            load()
    assert load_split(1, "train", config=small_config).num_rows > 0  # its own file is intact
    assert load_split(2, "dev", config=small_config).num_rows > 0


def test_an_edited_manifest_is_refused(warehouse, small_config):
    manifest = version_path(warehouse, 2) / "_meta" / "manifest.json"
    manifest.chmod(0o644)
    manifest.write_text(manifest.read_text().replace('"parent_version": 1', '"parent_version": 0'))
    with pytest.raises(TamperedVersionError, match=r"splits/v0002/_meta/manifest\.json"):
        load_split("latest", "train", config=small_config)


def test_unknown_versions_splits_and_formats_say_what_exists(warehouse, small_config):
    with pytest.raises(UnknownVersionError, match=r"no split version v9 \(published: v1, v2\)"):
        load_split(9, "dev", config=small_config)
    with pytest.raises(UnknownSplitError, match=r"'train-dev' \(did you mean train_dev\?\)"):
        load_split(1, "train-dev", config=small_config)
    with pytest.raises(UnknownSplitError, match="a version has train, train_dev, dev, test"):
        iter_split_batches(1, "validation")
    with pytest.raises(ValueError, match="such as 3 or v0003, or latest for the newest"):
        load_split("newest", "dev", config=small_config)
    with pytest.raises(ValueError, match="use one of arrow, pandas, polars, hf"):
        load_split(1, "dev", as_="torch", config=small_config)


def test_an_empty_warehouse_says_to_publish_first(layout, small_config):
    with pytest.raises(UnknownVersionError, match="run `bayesline materialize` first"):
        load_split("latest", "dev", config=small_config)


def test_polars_gets_the_same_rows_when_installed(warehouse, small_config):
    pytest.importorskip("polars")
    frame = load_split(1, "dev", as_="polars", config=small_config)
    assert dict(zip(frame["example_id"], frame["label"], strict=True)) == sql_rows(
        warehouse, small_config, 1, "dev"
    )
    assert version_of(frame) == 1


def test_a_label_outside_the_configs_label_set_is_named(warehouse, small_config):
    from dataclasses import replace

    narrower = replace(small_config, dataset=replace(small_config.dataset, labels=("neg",)))
    with pytest.raises(ValueError, match=r"v1 dev has label\(s\) pos that are not in the config"):
        load_split(1, "dev", as_="hf", config=narrower)
    assert load_split(1, "dev", config=narrower).num_rows > 0  # Arrow needs no label set
