"""The `bayesline` command line against a real warehouse built through Dagster."""

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from bayesline.demo import generate_demo_data
from bayesline.demo.records import COLUMNS
from tests.conftest import point_environment_at, write_csv
from warehouse.layout import WarehouseLayout

pytestmark = pytest.mark.slow
runner = CliRunner()


#: 40 reviews that reach the target source after version 1 is published.
LATE_ROWS = [
    (f"late-{i}", f"late-user-{i}", "positive", f"loved it {i}", "ios", "toys", "short", "en")
    for i in range(40)
]


def bayesline(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def built_two_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo warehouse with split versions 1 and 2, built once through Dagster by the CLI.

    Tests never use it in place: each gets its own copy (`two_versions`), far cheaper than
    rebuilding it and free to write to.
    """
    home = tmp_path_factory.mktemp("two-versions") / "bayesline-home"
    with pytest.MonkeyPatch.context() as env:
        point_environment_at(home, env)
        layout = WarehouseLayout(home).ensure()
        generate_demo_data(layout.landing, seed=3, n_training=800, n_target=400)
        assert bayesline("materialize").exit_code == 0
        write_csv(layout.landing / "app_reviews" / "late.csv", LATE_ROWS, header=COLUMNS)
        assert bayesline("materialize", "--select", "examples").exit_code == 0
        assert bayesline("materialize", "--select", "published_splits").exit_code == 0
    return home


@pytest.fixture
def two_versions(built_two_versions: Path, isolated_environment: Path) -> WarehouseLayout:
    """This test's own copy of the two-version warehouse, at its BAYESLINE_HOME."""
    shutil.copytree(built_two_versions, isolated_environment)
    return WarehouseLayout(isolated_environment)


def test_sql_reads_any_versions_dev_split_in_every_format(two_versions):
    table = bayesline(
        "sql", "SELECT version, count(*) AS n FROM splits WHERE split = 'dev' GROUP BY 1 ORDER BY 1"
    )
    assert table.exit_code == 0 and "version" in table.stdout
    as_csv = bayesline(
        "sql", "SELECT version, n_dev FROM split_versions ORDER BY 1", "--format", "csv"
    )
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["version", "n_dev"] and [r[0] for r in rows[1:]] == ["1", "2"]
    as_json = bayesline(
        "sql", "SELECT count(*) AS n FROM splits WHERE version = 2 AND split = 'dev'", "-f", "json"
    )
    dev_rows = json.loads(as_json.stdout)[0]["n"]
    assert dev_rows == int(rows[2][1])


def test_splits_list_show_and_diff_describe_the_versions(two_versions):
    listed = bayesline("splits", "list")
    assert listed.exit_code == 0 and "Split versions" in listed.stdout
    shown = json.loads(bayesline("splits", "show", "v2").stdout)
    assert shown["version"] == 2 and shown["changes_vs_parent"]["added"] == 40
    diff = bayesline("splits", "diff", "1", "2")
    assert "added 40, removed 0, changed 0, moved between splits 0" in " ".join(diff.stdout.split())


def test_errors_say_what_to_do_next(two_versions):
    unknown = runner.invoke(app, ["splits", "show", "7"])
    assert unknown.exit_code == 1 and "published: v1, v2" in unknown.stderr
    writing = runner.invoke(app, ["sql", "DELETE FROM examples"])
    assert writing.exit_code == 1 and "only reads" in writing.stderr
    bad_sql = runner.invoke(app, ["sql", "SELECT * FROM nope"])
    assert bad_sql.exit_code == 1 and "split_versions" in bad_sql.stderr
    bad_selection = runner.invoke(app, ["materialize", "--select", "no_such_asset"])
    assert bad_selection.exit_code == 1


def test_a_broken_config_is_reported_before_anything_runs(tmp_path, monkeypatch):
    broken = tmp_path / "broken.toml"
    broken.write_text('[dataset]\nname = "x"\nlabel_columns = "y"\n')
    monkeypatch.setenv("BAYESLINE_CONFIG", str(broken))
    result = runner.invoke(app, ["splits", "list"])
    assert result.exit_code == 1
    assert "unknown key(s) in [dataset]: label_columns (did you mean label_column?)" in (
        result.stderr
    )


def test_users_register_their_own_predictions_and_get_a_report(two_versions, tmp_path):
    from warehouse.catalog import open_reader
    from warehouse.config import load_config

    with open_reader(two_versions, load_config()) as con:
        ids = [
            r[0] for r in con.execute("SELECT example_id FROM splits WHERE version = 2").fetchall()
        ]
    predictions = tmp_path / "mine.csv"
    predictions.write_text(
        "example_id,predicted_label,score\n" + "".join(f"{i},positive,0.9\n" for i in ids)
    )
    added = bayesline("predictions", "add", str(predictions), "-m", "always-positive", "-s", "v2")
    assert added.exit_code == 0 and "registered always-positive" in added.stdout
    again = bayesline("predictions", "add", str(predictions), "-m", "always-positive", "-s", "2")
    assert "already registered" in again.stdout
    assert bayesline("materialize", "--select", "slice_metrics+").exit_code == 0
    out = tmp_path / "report.html"
    reported = bayesline("report", "-m", "always-positive", "-o", str(out))
    assert reported.exit_code == 0 and out.is_file()
    assert "always-positive" in out.read_text()
    unknown = runner.invoke(app, ["predictions", "add", str(predictions), "-m", "x", "-s", "9"])
    assert unknown.exit_code == 1 and "split version 9 is not published" in unknown.stderr


def test_diagnose_is_a_bayesline_command():
    result = bayesline("diagnose", "--human", "1", "--train", "8", "--dev", "10", "--json")
    assert json.loads(result.stdout)["problems"][0] == "avoidable_bias"
