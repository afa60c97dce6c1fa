"""`bayesline export` from the command line: a folder `datasets.load_dataset` opens as is, a
data card computed from the warehouse, bad input refused in one line, predictions coming back.

Warehouses are built by the library from rows written here (not the demo generator), under a
config file the CLI reads like a user's.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from evaluation.pipeline import analyse_slices, diagnose_model_version
from evaluation.predictions import register_predictions
from tests.conftest import small_config_toml, write_csv
from tests.test_handoff import (  # noqa: F401 (an autouse fixture)
    private_datasets_cache,
    review_rows,
    sql_rows,
    sql_sizes,
    tamper,
)
from warehouse.catalog import open_reader
from warehouse.config import load_config
from warehouse.hashing import file_sha256
from warehouse.ingest import ingest_landing_files
from warehouse.schema import HUMAN_BASELINE_COLUMNS
from warehouse.splits import publish_split_version, version_path
from warehouse.storage import write_local_records

datasets = pytest.importorskip("datasets")
runner = CliRunner()
SPLIT_NAMES = ["train", "train_dev", "dev", "test"]
HEADER = ["id", "user", "verdict", "text", "device"]


def bayesline(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "bayesline.toml"
    # The landing files call the label `verdict`: the warehouse stores it as `label`.
    dataset = {"name": "reviews", "label_column": "verdict"}
    path.write_text(small_config_toml(dataset=dataset, splits={"salt": "export-salt"}))
    monkeypatch.setenv("BAYESLINE_CONFIG", str(path))
    return load_config(path)


@pytest.fixture
def warehouse(layout, config):
    """v1 from two sources; v2 adds a later delivery."""
    write_csv(layout.landing / "app" / "first.csv", review_rows("app", 90, "ios"), HEADER)
    # Half the web reviewers also review in the app: groups that span both distributions.
    web = [
        (rid, f"u-app{i}" if i % 2 else user, *rest)
        for i, (rid, user, *rest) in enumerate(review_rows("web", 60, "desktop"))
    ]
    write_csv(layout.landing / "web" / "first.csv", web, HEADER)
    ingest_landing_files(layout, config)
    assert publish_split_version(layout, config).version == 1
    later = review_rows("late", 30, "android", "neg")
    write_csv(layout.landing / "app" / "later.csv", later, HEADER)
    ingest_landing_files(layout, config)
    assert publish_split_version(layout, config).version == 2
    return layout


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "hf"])
def test_an_export_opens_with_load_dataset_and_matches_sql(warehouse, config, tmp_path, fmt):
    out = tmp_path / f"export-{fmt}"
    result = bayesline("export", "--version", "1", "--format", fmt, "--out", out)
    assert result.exit_code == 0, result.output
    assert "exported split v1" in result.stdout and "--split-version 1" in result.stdout
    splits = datasets.load_dataset(str(out))
    assert list(splits) == SPLIT_NAMES
    assert {n: s.num_rows for n, s in splits.items()} == sql_sizes(warehouse, config, 1)
    for name, part in splits.items():
        label = part.features["label"]
        assert isinstance(label, datasets.ClassLabel) and label.names == ["neg", "pos"]
        exported = dict(zip(part["example_id"], label.int2str(part["label"]), strict=True))
        assert exported == sql_rows(warehouse, config, 1, name)
        assert set(part["version"]) == {1}
        assert {"source", "group_key", "device"} <= set(part.column_names)


def test_the_data_card_is_computed_from_the_version(warehouse, config, tmp_path):
    out = tmp_path / "card"
    assert bayesline("export", "-v", "latest", "-o", out).exit_code == 0
    card = (out / "README.md").read_text()
    sizes = sql_sizes(warehouse, config, 2)
    assert "# reviews: split version 2" in card
    for split, n in sizes.items():
        assert re.search(rf"^\| {split} \| {n:,} \|", card, re.MULTILINE), split
    with open_reader(warehouse, config) as con:
        breakdown = con.execute(
            "SELECT split, source, label, count(*) FROM splits WHERE version = 2 GROUP BY ALL"
        ).fetchall()
    for split, source, label, n in breakdown:
        assert f"| {split} | {source} | {label} | {n:,} |" in card
    assert "is `app`: dev and test hold only its examples" in card
    assert "| web | training | 60 |" in card
    assert "Salt `export-salt`" in card and 'salt: str = "export-salt"' in card
    assert "--split-version 2" in card
    for line in (out / "checksums.sha256").read_text().splitlines():
        digest, name = line.split("  ")
        assert file_sha256(out / name) == digest and f"`{digest}`" in card
    manifest_files = (version_path(warehouse, 2) / "_meta" / "manifest.json").read_text()
    for split in SPLIT_NAMES:
        assert file_sha256(version_path(warehouse, 2) / f"{split}.parquet") in manifest_files
    assert "Not measured on v2" in card and "No model has been evaluated on v2" in card
    assert (out / "split_sizes.png").read_bytes()[:4] == b"\x89PNG"


def test_the_card_recipe_reproduces_the_splits_it_claims(warehouse, config, tmp_path) -> None:
    out = tmp_path / "recipe"
    assert bayesline("export", "-v", "1", "-o", out).exit_code == 0
    card = (out / "README.md").read_text()
    recipe = re.search(r"```python\nimport hashlib\n(.*?)```", card, re.DOTALL)
    assert recipe, card
    code = recipe.group(1)
    namespace: dict = {}
    exec(compile("import hashlib\n" + code, "card", "exec"), namespace)
    splits = datasets.load_dataset(str(out))
    with_target = {
        row["group_key"]
        for part in splits.values()
        for row in part
        if row["distribution"] == "target"
    }
    agree = sum(
        namespace["split_of"](
            row["group_key"], row["distribution"], row["group_key"] in with_target
        )
        == name
        for name, part in splits.items()
        for row in part
    )
    claimed = re.search(r"gives the split of\n\*\*([\d,]+) of ([\d,]+)\*\*", card)
    assert claimed, card
    assert (agree, sum(sql_sizes(warehouse, config, 1).values())) == (
        int(claimed.group(1).replace(",", "")),
        int(claimed.group(2).replace(",", "")),
    )
    assert agree > 0


def test_the_card_shows_the_models_diagnosis_and_human_level_error(warehouse, config, tmp_path):
    dev_test = {**sql_rows(warehouse, config, 2, "dev"), **sql_rows(warehouse, config, 2, "test")}
    predictions = tmp_path / "always-pos.csv"
    predictions.write_text("example_id,predicted_label\n" + "".join(f"{i},pos\n" for i in dev_test))
    register_predictions(warehouse, config, predictions, "always-pos", 2)
    analyse_slices(warehouse, config, "always-pos", 2)
    diagnose_model_version(warehouse, config, "always-pos", 2)
    write_local_records(
        HUMAN_BASELINE_COLUMNS,
        [
            {
                "split_version": 2,
                "slice_column": "overall",
                "slice_value": "all",
                "n_examples": 40,
                "n_annotations": 120,
                "n_annotators": 3,
                "consensus_method": "dawid_skene",
                "consensus_error": 0.025,
                "consensus_ci_low": 0.004,
                "consensus_ci_high": 0.129,
                "typical_annotator_error": 0.075,
                "simulated": False,
            }
        ],
        warehouse.labeling_dir / "baselines" / "v0002.parquet",
    )
    out = tmp_path / "diagnosed"
    assert bayesline("export", "-v", "2", "-o", out).exit_code == 0
    card = (out / "README.md").read_text()
    wrong = sum(label != "pos" for label in sql_rows(warehouse, config, 2, "dev").values())
    dev_error = wrong / len(sql_rows(warehouse, config, 2, "dev"))
    assert "## Diagnosis of `always-pos`" in card and "The champion, on v2" in card
    diagnosis = card[card.index("## Diagnosis") :]
    overall = next(line for line in diagnosis.splitlines() if line.startswith("| overall | "))
    assert f"| {dev_error:.1%} |" in overall
    assert "| overall | 40 | 3 | 2.5% [0.4%, 12.9%] | 7.5% | people |" in card


def test_an_existing_folder_is_refused_and_force_replaces_it_whole(warehouse, config, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    refused = bayesline("export", "-v", "1", "-o", out)
    assert refused.exit_code == 1
    assert "exists and is not empty: choose another --out, or add --force" in refused.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    forced = bayesline("export", "-v", "2", "-o", out, "--force")
    assert forced.exit_code == 0
    assert not (out / "notes.txt").exists()
    assert datasets.load_dataset(str(out))["train"]["version"][0] == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert bayesline("export", "-v", "1", "-o", empty).exit_code == 0


def test_bad_input_gets_one_line_and_writes_nothing(warehouse, config, tmp_path):
    out = tmp_path / "never"
    unknown = bayesline("export", "-v", "7", "-o", out)
    assert unknown.exit_code == 1 and "no split version v7 (published: v1, v2)" in unknown.stderr
    bad_format = bayesline("export", "-v", "1", "-o", out, "-f", "csv")
    assert bad_format.exit_code == 1 and "use parquet, jsonl, hf" in bad_format.stderr
    tamper(version_path(warehouse, 1) / "test.parquet")
    tampered = bayesline("export", "-v", "1", "-o", out)
    assert tampered.exit_code == 1
    assert "splits/v0001/test.parquet does not match the sha256" in tampered.stderr
    for result in (unknown, bad_format, tampered):
        assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_predictions_come_back_against_the_version_the_card_names(warehouse, config, tmp_path):
    out = tmp_path / "handoff"
    assert bayesline("export", "-v", "2", "-o", out, "-f", "hf").exit_code == 0
    card_version = re.search(r"--split-version (\d+)", (out / "README.md").read_text()).group(1)
    splits = datasets.load_dataset(str(out))
    ids = list(splits["dev"]["example_id"]) + list(splits["test"]["example_id"])
    predictions = tmp_path / "preds.parquet"
    pq.write_table(
        pa.table(
            {
                "example_id": ids,
                "predicted_label": ["pos"] * len(ids),
                "split_version": [int(card_version)] * len(ids),
            }
        ),
        predictions,
    )
    added = bayesline(
        "predictions", "add", predictions, "-m", "trained-on-export", "-s", card_version
    )
    assert added.exit_code == 0, added.output
    assert "registered trained-on-export on split v2" in added.stdout
    mismatch = bayesline("predictions", "add", predictions, "-m", "trained-on-export", "-s", "1")
    assert mismatch.exit_code == 1
    assert "says split_version '2' but you registered '1'" in mismatch.stderr
    late_ids = [i for i in ids if i.startswith("late")]
    assert late_ids  # v2's later delivery reached dev or test
    older = tmp_path / "older.csv"
    older.write_text("example_id,predicted_label\n" + "".join(f"{i},neg\n" for i in late_ids))
    not_in_v1 = bayesline("predictions", "add", older, "-m", "trained-on-export", "-s", "1")
    assert not_in_v1.exit_code == 1 and "are not in split version 1" in not_in_v1.stderr


def test_the_loader_and_the_export_agree_whatever_the_landing_files_call_the_label(
    warehouse, config, tmp_path
):
    from bayesline import load_splits

    loaded = load_splits(2)  # the config from BAYESLINE_CONFIG, like a training script
    assert bayesline("export", "-v", "2", "-o", tmp_path / "same").exit_code == 0
    exported = datasets.load_dataset(str(tmp_path / "same"))
    for name in SPLIT_NAMES:
        assert loaded[name].features["label"] == exported[name].features["label"]
        pairs = [
            sorted(zip(part["example_id"], part["label"], strict=True))
            for part in (loaded[name], exported[name])
        ]
        assert pairs[0] == pairs[1]
