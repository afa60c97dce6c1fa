"""Challengers against the champion through Dagster, and the promotion gate through the CLI."""

from __future__ import annotations

import re

import dagster as dg
import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from bayesline.runner import ensure_dagster_home
from tests.conftest import small_config_toml, write_csv
from tests.test_model_comparison import DEVICES, champion_wrong, device_of, predictions
from tests.test_predictions import split_examples, write_predictions_csv
from warehouse.catalog import fetch_dicts, open_reader
from warehouse.config import load_config
from warehouse.ingest import ingest_landing_files
from warehouse.splits import publish_split_version

pytestmark = pytest.mark.slow
runner = CliRunner()


def bayesline(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def registered(layout, tmp_path, monkeypatch):
    """A champion registered first, then three challengers, all through the CLI."""
    config_path = tmp_path / "promotion.toml"
    config_path.write_text(small_config_toml(dataset={"name": "promotion"}))
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config_path))
    config = load_config(config_path)
    ensure_dagster_home(layout)
    app_rows = [
        (f"a{i:04d}", f"ua{i}", "neg" if i % 3 else "pos", f"app review {i}", DEVICES[i % 3])
        for i in range(3000)
    ]
    write_csv(layout.landing / "app" / "batch.csv", app_rows)
    ingest_landing_files(layout, config)
    version = publish_split_version(layout, config).version
    examples = split_examples(layout, config, version)
    models = {
        "champion": champion_wrong,
        "ios-broken": lambda i, e: i % 2 == 0 if device_of(e) == "ios" else champion_wrong(i, e),
        "android-fix": lambda i, e: i % 25 == 0 if device_of(e) == "android" else i % 5 == 0,
        "champion-copy": lambda i, e: champion_wrong(i, e) != (i in (11, 222, 1333)),
    }
    for name, wrong in models.items():
        path = write_predictions_csv(tmp_path / f"{name}.csv", predictions(examples, wrong))
        added = bayesline("predictions", "add", str(path), "-m", name, "-s", str(version))
        assert added.exit_code == 0, added.output
    return config


def said(result) -> str:
    """The command's output with the console's line wrapping undone."""
    return " ".join(result.output.split())


def check_evaluation(run_id: str) -> dg.AssetCheckEvaluation:
    with dg.DagsterInstance.get() as instance:
        (record,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    assert record.dagster_event is not None
    return record.dagster_event.asset_check_evaluation_data


def test_the_comparison_asset_and_its_check_name_the_regressing_challenger(layout, registered):
    result = bayesline("materialize", "--select", "model_comparison")
    assert "materialised model_comparison" in result.output
    assert "check challenger_does_not_regress_champion: failed" in result.output
    run_id = re.search(r"Dagster run ([0-9a-f-]+)", result.output).group(1)
    evaluation = check_evaluation(run_id)
    regressing = evaluation.metadata["regressing"].value
    assert set(regressing) == {"ios-broken (v1)"}
    assert {"dev: device = ios", "test: device = ios"} <= set(regressing["ios-broken (v1)"])

    with open_reader(layout, registered) as con:
        summaries = fetch_dicts(
            con, "SELECT model_a, model_b, verdict, improved_slices FROM model_comparison_summaries"
        )
    verdicts = {s["model_b"]: s["verdict"] for s in summaries}
    assert {s["model_a"] for s in summaries} == {"champion"}
    assert verdicts == {
        "ios-broken": "regressed",
        "android-fix": "improved",
        "champion-copy": "no detectable difference",
    }
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("model_comparison"))
    metadata = event.asset_materialization.metadata
    assert metadata["champion"].value == "champion (v1)"
    assert "| android-fix (v1) |" in metadata["challengers"].value
    assert "![versus champion](data:image/png;base64," in metadata["ios-broken: chart"].value


def test_promote_refuses_a_regressing_challenger_unless_forced_and_records_it(layout, registered):
    refused = bayesline("models", "promote", "ios-broken")
    assert refused.exit_code == 1
    assert "refused: ios-broken (v1) is significantly worse than the champion" in said(refused)
    assert "device = ios" in said(refused) and "--force" in said(refused)

    promoted = bayesline("models", "promote", "android-fix")
    assert promoted.exit_code == 0, promoted.output
    assert "passed the gate against champion (v1): improved" in said(promoted)

    forced = bayesline("models", "promote", "ios-broken", "--force")
    assert forced.exit_code == 0, forced.output
    assert "(forced)" in said(forced)

    listing = bayesline("models", "list")
    assert "Champion history" in said(listing)
    with open_reader(layout, registered) as con:
        history = con.execute(
            "SELECT model_version, previous_model_version, forced FROM champions ORDER BY since"
        ).fetchall()
    assert history == [("android-fix", "champion", False), ("ios-broken", "android-fix", True)]
    again = bayesline("models", "promote", "ios-broken")
    assert again.exit_code == 1 and "already the champion" in said(again)


def test_compare_from_the_cli_lists_significant_slices_first_and_refuses_bad_requests(
    layout, registered
):
    result = bayesline("compare", "champion", "android-fix", "--split-version", "1")
    assert result.exit_code == 0, result.output
    assert "Verdict on dev and test: improved" in said(result)
    lines = [line for line in result.output.splitlines() if "│" in line]
    assert "impro" in lines[0]  # significant rows come first (cells cut at 80 columns)
    assert "no detectable difference" in said(bayesline("compare", "champion", "champion-copy"))
    for args, message in (
        (("champion", "champion"), "compared with itself"),
        (("champion", "nope"), "unknown model version 'nope'; registered: android-fix"),
        (("champion", "android-fix", "-s", "4"), "has no predictions on split version 4"),
    ):
        bad = bayesline("compare", *args)
        assert bad.exit_code == 1 and message in said(bad), bad.output


def test_the_report_of_a_challenger_has_a_versus_champion_section(layout, registered, tmp_path):
    assert bayesline("materialize", "--select", "model_comparison").exit_code == 0
    assert bayesline("materialize", "--select", "slice_metrics+").exit_code == 0
    out = tmp_path / "report.html"
    assert bayesline("report", "-m", "ios-broken", "-o", str(out)).exit_code == 0
    html_text = out.read_text()
    section = html_text[html_text.index("<section id='versus-champion'>") :]
    assert "Regressed on dev and test against the champion champion (v1)" in section
    assert "device = ios" in section and "data:image/png;base64," in section
    champion_out = tmp_path / "champion.html"
    assert bayesline("report", "-m", "champion", "-o", str(champion_out)).exit_code == 0
    assert "versus-champion" not in champion_out.read_text()
