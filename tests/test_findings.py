"""Slices worth reading: a pair is a finding only when it is worse than its flagged parents.

The unit cases use hand-made flagged rows; the last test lands a dataset whose slice columns
(device, region) the demo never makes, runs the real Dagster pipeline, and reads the result
where a user would: `low_performing_slices` in SQL, the report, the asset's metadata and the
slices the labeling queue takes.
"""

from __future__ import annotations

import re

import dagster as dg
import pytest
from typer.testing import CliRunner

from assets.run import materialize_pipeline
from bayesline.cli import app
from bayesline.runner import ensure_dagster_home
from evaluation.findings import in_reading_order, nest_under_parents, reading_label
from evaluation.stats import holm_adjust, two_proportion_p_value
from labeling.queue import slices_to_label
from tests.conftest import write_csv
from warehouse.catalog import fetch_dicts, open_reader
from warehouse.config import load_config

OVERALL_RATE = 0.2


def flagged(column: str, value: str, n: int, errors: int) -> dict:
    """A flagged dev slice as find_low_performing_slices builds it (overall dev error 20%)."""
    gap = errors / n - OVERALL_RATE
    return {
        "slice_column": column,
        "slice_value": value,
        "n": n,
        "errors": errors,
        "errors_removable": gap * n,
        "p_value": 0.001,
    }


def by_label(rows: list[dict]) -> dict[str, dict]:
    return {f"{r['slice_column']} = {r['slice_value']}": r for r in rows}


def test_a_pair_only_as_weak_as_its_flagged_parent_is_shown_under_it():
    # device = b: 200 dev examples, 80 wrong (40%). Its pair with north: 50 at 40%, exactly
    # the rest of b (150 at 40%): not worse, so it nests. With south: 50 at 80% against the
    # rest of b (150, 40 wrong: 26.7%): far worse, a finding of its own.
    rows = [
        flagged("device", "b", 200, 80),
        flagged("device x region", "b x north", 50, 20),
        flagged("device x region", "b x south", 50, 40),
    ]
    result = by_label(nest_under_parents(rows, alpha=0.05))
    north, south = result["device x region = b x north"], result["device x region = b x south"]
    assert (north["parent_slice_column"], north["parent_slice_value"]) == ("device", "b")
    assert north["rank"] is None
    assert south["parent_slice_column"] is None and south["rank"] is not None
    # Holm over the two (pair, parent) tests, computed here from the counts.
    p_north = two_proportion_p_value(60, 150, 20, 50)
    p_south = two_proportion_p_value(40, 150, 40, 50)
    assert p_north == pytest.approx(0.5)
    assert [north["p_vs_parent"], south["p_vs_parent"]] == pytest.approx(
        holm_adjust([p_north, p_south])
    )
    # Ranks count findings only, by errors removable: b (40) before b x south (30).
    assert [result["device = b"]["rank"], south["rank"]] == [1, 2]


def test_a_pair_whose_parents_are_not_flagged_is_a_finding_as_before():
    rows = [flagged("device x region", "a x north", 60, 40)]
    [row] = nest_under_parents(rows, alpha=0.05)
    assert row["parent_slice_column"] is None and row["p_vs_parent"] is None
    assert row["rank"] == 1


def test_a_pair_must_be_worse_than_each_flagged_parent_or_it_nests_under_the_one_it_is_not():
    # Both parents flagged. The pair (60 at 75%) is far worse than the rest of device = b
    # (240 at 35%) but no worse than the rest of region = north (140 at 75%).
    rows = [
        flagged("device", "b", 300, 129),
        flagged("region", "north", 200, 150),
        flagged("device x region", "b x north", 60, 45),
    ]
    result = by_label(nest_under_parents(rows, alpha=0.05))
    pair = result["device x region = b x north"]
    assert (pair["parent_slice_column"], pair["parent_slice_value"]) == ("region", "north")
    assert pair["p_vs_parent"] >= 0.05


def test_a_pair_that_is_all_of_its_parent_cannot_be_worse_than_it():
    rows = [flagged("device", "b", 40, 30), flagged("device x region", "b x north", 40, 30)]
    pair = by_label(nest_under_parents(rows, alpha=0.05))["device x region = b x north"]
    assert pair["parent_slice_value"] == "b" and pair["p_vs_parent"] == 1.0


def test_reading_order_puts_each_nested_pair_right_under_its_parent():
    rows = nest_under_parents(
        [
            flagged("device x region", "b x west", 50, 21),
            flagged("lang", "fr", 400, 120),
            flagged("device", "b", 200, 80),
            flagged("device x region", "b x north", 50, 20),
        ],
        alpha=0.05,
    )
    assert [reading_label(r) for r in in_reading_order(rows)] == [
        "device = b",  # errors removable 40
        "\N{DOWNWARDS ARROW WITH TIP RIGHTWARDS} device x region = b x west",  # 11
        "\N{DOWNWARDS ARROW WITH TIP RIGHTWARDS} device x region = b x north",  # 10
        "lang = fr",  # 40, then by p-value and name: after device = b
    ]


# --- end to end ------------------------------------------------------------------------------

DEVICES = ("scanner-a", "scanner-b", "scanner-c")
REGIONS = ("north", "south", "east", "west")
# Planted error rates per (device, region) of the target data: scanner-b is weak everywhere,
# twice as weak in the south; scanner-a is weak in the north only.
RATES = {("scanner-b", r): 0.4 for r in REGIONS} | {
    ("scanner-b", "south"): 0.85,
    ("scanner-a", "north"): 0.65,
}
CONFIG = """
[dataset]
name = "scans"
id_column = "scan_id"
label_column = "finding"
labels = ["clear", "lesion"]
text_columns = ["report"]
slice_columns = ["device", "region"]

[sources]
target = ["clinic"]

[splits]
salt = "scans-v1"

[splits.target]
train = 0.4
dev = 0.3
test = 0.3

[splits.training]
train = 0.8
train_dev = 0.2

[evaluation]
min_slice_size = 20
slice_pairs = true
"""


def scan_rows(source: str, count: int) -> list[tuple]:
    rows = []
    for i in range(count):
        device, region = DEVICES[i % 3], REGIONS[(i // 3) % 4]
        label = "lesion" if i % 5 == 0 else "clear"
        rows.append((f"{source}-{i}", label, f"{source} scan report {i}", device, region))
    return rows


def planted_prediction(example_id: str, label: str, device: str, region: str) -> str:
    rate = RATES.get((device, region), 0.05) if example_id.startswith("clinic") else 0.05
    number = int(example_id.split("-")[1])
    wrong = (number * 37) % 100 < rate * 100  # spread evenly over the ids, not by hash
    return ({"clear", "lesion"} - {label}).pop() if wrong else label


@pytest.fixture
def scans(layout, tmp_path, monkeypatch):
    config_path = tmp_path / "scans.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config_path))
    ensure_dagster_home(layout)
    header = ["scan_id", "finding", "report", "device", "region"]
    write_csv(layout.landing / "clinic" / "scans.csv", scan_rows("clinic", 4800), header)
    write_csv(layout.landing / "archive" / "old.csv", scan_rows("archive", 1200), header)
    assert materialize_pipeline("*published_splits").success
    config = load_config()
    with open_reader(layout, config) as con:
        examples = con.execute(
            "SELECT example_id, label, device, region FROM splits WHERE version = 1"
        ).fetchall()
    predictions = tmp_path / "planted.csv"
    predictions.write_text(
        "example_id,predicted_label\n"
        + "".join(f"{e[0]},{planted_prediction(*e)}\n" for e in examples),
        encoding="utf-8",
    )
    runner = CliRunner()
    added = runner.invoke(app, ["predictions", "add", str(predictions), "-m", "planted", "-s", "1"])
    assert added.exit_code == 0, added.output
    outcome = materialize_pipeline("slice_metrics+")
    assert outcome.success, outcome.events
    return layout, config


@pytest.mark.slow
def test_pairs_weak_only_through_their_parent_are_nested_everywhere_a_user_looks(scans, tmp_path):
    layout, config = scans
    with open_reader(layout, config) as con:
        rows = fetch_dicts(con, "SELECT * FROM low_performing_slices ORDER BY rank")
        to_label = slices_to_label(con, 1)
    found = by_label(rows)
    scanner_b = found["device = scanner-b"]
    assert scanner_b["rank"] is not None and scanner_b["parent_slice_column"] is None
    # The three ordinary regions of scanner-b: flagged against dev, but nested under it.
    for region in ("north", "east", "west"):
        pair = found[f"device x region = scanner-b x {region}"]
        assert (pair["parent_slice_column"], pair["parent_slice_value"]) == (
            "device",
            "scanner-b",
        )
        assert pair["rank"] is None and pair["p_vs_parent"] >= config.evaluation.alpha
    # Worse than its flagged parent: a finding of its own; so is a pair with no flagged
    # single-column slice above it on the device side.
    for own in ("scanner-b x south", "scanner-a x north"):
        assert found[f"device x region = {own}"]["parent_slice_column"] is None
    findings = [r for r in rows if r["parent_slice_column"] is None]
    assert [r["rank"] for r in findings] == list(range(1, len(findings) + 1))
    # The labeling queue takes the findings, never a nested pair.
    assert {(c, v) for c, v, _ in to_label} == {
        (r["slice_column"], r["slice_value"]) for r in findings
    }

    # The report: each nested pair in the row right under its parent's.
    out = tmp_path / "report.html"
    reported = CliRunner().invoke(app, ["report", "-m", "planted", "-o", str(out)])
    assert reported.exit_code == 0, reported.output
    section = re.search(r"<section id='low-performing'>.*?</section>", out.read_text(), re.S)
    labels = re.findall(r"<tr[^>]*><td[^>]*>[^<]*</td><td>([^<]*)</td>", section.group(0))
    start = labels.index("device = scanner-b")
    nested = labels[start + 1 : start + 4]
    assert sorted(nested) == [
        f"\N{DOWNWARDS ARROW WITH TIP RIGHTWARDS} device x region = scanner-b x {region}"
        for region in ("east", "north", "west")
    ]
    assert "are weak only as their parent" in section.group(0)

    # The Dagster metadata of low_performing_slices says the same.
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("low_performing_slices"))
    metadata = event.asset_materialization.metadata
    assert metadata["flagged"].value == len(findings)
    assert metadata["nested_under_parent"].value == 3
    table = metadata["slices"].value
    assert table.index("device = scanner-b") < table.index(
        "\N{DOWNWARDS ARROW WITH TIP RIGHTWARDS} device x region = scanner-b x"
    )
