"""Errors a newcomer can read: one line with the cause and the next step, details in a log."""

from __future__ import annotations

import os
import re
from pathlib import Path

import dagster as dg
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from assets.definitions import defs
from bayesline.cli import app
from bayesline.runner import run_pipeline
from tests.conftest import REPO_ROOT, write_csv

runner = CliRunner()
#: Commands that never read bayesline.toml: the rest must refuse a broken one up front.
#: (`diagnose` reads it when there is one, for [evaluation] material_gap_share; `runs`
#: reads only the Dagster instance; `team` only the deployment settings.)
NO_CONFIG = {"labelstudio", "runs", "team"}
#: Arguments each config-reading command needs to get as far as reading the config.
ARGUMENTS = {
    "materialize": [],
    "sql": ["SELECT 1"],
    "splits list": [],
    "splits show": ["1"],
    "splits diff": ["1", "2"],
    "predictions add": ["preds.csv", "-m", "m1", "-s", "1"],
    "predictions list": [],
    "review list": [],
    "review accept": ["some-id"],
    "report": [],
    "demo": ["--no-labelstudio"],
    "batches list": [],
    "batches exclude": ["some.csv", "--reason", "why"],
    "batches accept": ["some.csv", "--reason", "why"],
    "compare": ["model-a", "model-b"],
    "models list": [],
    "models promote": ["model-a"],
    "diagnose": ["--human", "1", "--train", "8", "--dev", "10"],
    "export": ["--version", "1", "--out", "exported"],
}


def command_paths(group, prefix: str = "") -> set[str]:
    paths = set()
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if path in NO_CONFIG:
            continue
        if hasattr(command, "commands"):  # a group of subcommands
            paths |= command_paths(command, f"{path} ")
        else:
            paths.add(path)
    return paths


@pytest.fixture
def fractions_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled config with target fractions summing to 0.9."""
    text = (REPO_ROOT / "bayesline.toml").read_text()
    broken = tmp_path / "fractions.toml"
    broken.write_text(text.replace("train = 0.4", "train = 0.3", 1))
    monkeypatch.setenv("BAYESLINE_CONFIG", str(broken))
    return broken


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def runs_recorded() -> int:
    if not Path(os.environ["DAGSTER_HOME"]).is_dir():
        return 0  # nothing even prepared a Dagster instance
    with dg.DagsterInstance.get() as instance:
        return len(instance.get_runs())


def test_every_command_that_reads_the_config_refuses_a_broken_one_before_running(
    fractions_off, isolated_environment
):
    assert command_paths(typer.main.get_command(app)) == set(ARGUMENTS)
    for path, arguments in ARGUMENTS.items():
        result = runner.invoke(app, [*path.split(), *arguments])
        assert result.exit_code == 1, (path, result.output)
        line = error_line(result.stderr)
        assert "[splits.target] fractions sum to 0.9, not 1 (train = 0.3" in line, path
        assert "so that they add up to 1" in line and str(fractions_off) in line
    landing = isolated_environment / "landing"
    assert not landing.exists() or not any(landing.iterdir())  # the demo wrote no data
    assert runs_recorded() == 0


@pytest.mark.slow
def test_a_failing_step_says_its_cause_in_one_line_and_leaves_the_traceback_in_a_log(
    isolated_environment,
):
    result = runner.invoke(app, ["materialize", "--select", "published_splits"])
    assert result.exit_code == 1
    line = error_line(result.stderr)
    home = re.escape(str(isolated_environment))
    assert re.fullmatch(
        rf"error: published_splits failed: The warehouse at {home} has no examples yet: land "
        rf"files under {home}/landing/<source>/ and ingest them before publishing splits; "
        rf"full log: {home}/logs/run-[0-9a-f-]+\.log",
        line,
    ), line
    assert "Traceback" not in result.stdout
    log = Path(line.rsplit("full log: ", 1)[1]).read_text()
    assert "Stack Trace" in log and "publish_split_version" in log and "NoExamplesError: " in log


@pytest.mark.slow
def test_a_config_error_inside_a_run_is_one_line_naming_the_steps_it_failed(fractions_off, capsys):
    # The CLI refuses such a config before running; the Dagster UI and sensor cannot.
    out = Console(record=True, width=200)
    assert run_pipeline("examples", out) is False
    line = error_line(capsys.readouterr().err)
    assert re.match(r"error: warehouse_examples(, \w+)* failed: ", line), line
    assert "[splits.target] fractions sum to 0.9, not 1" in line
    assert "ConfigError" not in line and "dagster" not in line.lower().split("full log")[0]
    log = Path(line.rsplit("full log: ", 1)[1]).read_text()
    assert "warehouse.config.ConfigError: " in log and "Stack Trace" in log
    assert "step failed warehouse_examples: " in out.export_text()


def test_an_unknown_selection_lists_the_real_assets_and_the_syntax(isolated_environment):
    assets = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())
    for selection in ("publishd_splits", "key:examples or", "nothing_like_it+"):
        result = runner.invoke(app, ["materialize", "--select", selection])
        assert result.exit_code == 1
        line = error_line(result.stderr)
        assert f"Assets: {', '.join(assets)}." in line
        for syntax in ("'key:a or key:b'", "'a+'", "'*a'"):
            assert syntax in line
    misspelt = runner.invoke(app, ["materialize", "--select", "publishd_splits"])
    assert "did you mean 'published_splits'?" in misspelt.stderr
    assert runs_recorded() == 0


def test_steps_failing_alike_are_named_together_and_a_bug_is_called_a_bug():
    from assets.run import RunEvent, RunOutcome
    from bayesline.run_report import event_line, run_problems

    cause = "bayesline.toml: [splits.target] fractions sum to 0.9, not 1"
    outcome = RunOutcome(
        False,
        "run-1",
        [
            RunEvent("failed", "warehouse_examples", False, cause, error_class="ConfigError"),
            RunEvent("failed", "landed_predictions", False, cause, error_class="ConfigError"),
            RunEvent("failed", "diagnosis", False, "'n_dev'", error_class="KeyError"),
        ],
    )
    assert run_problems(outcome) == [
        f"warehouse_examples, landed_predictions failed: {cause}",
        "diagnosis failed: unexpected KeyError: 'n_dev'. This is a bug in Bayesline: please "
        "report it with the log file below",
    ]
    # Rich markup in a message is printed as text.
    assert "[splits.target]" in Console().render_str(event_line(outcome.events[0])).plain


def test_a_step_error_is_a_bug_unless_its_class_is_a_bayeslineerror_or_dagsters():
    from assets.run import RunEvent, UnknownSelectionError
    from bayesline.run_report import failure_cause, is_a_bug
    from warehouse.spark_session import SparkUnavailableError
    from warehouse.splits import SplitInvariantError
    from warehouse.versions import UnknownVersionError

    def cause(error_class: str) -> str:
        return failure_cause(RunEvent("failed", "step", False, "why.", error_class=error_class))

    # Dagster's event names the class only: known BayeslineErrors, at any depth, by name.
    for expected in (UnknownVersionError, SparkUnavailableError, UnknownSelectionError):
        assert not is_a_bug(expected.__name__) and cause(expected.__name__) == "why.", expected
    for dagsters in ("DagsterInvalidConfigError", "Failure", "KeyboardInterrupt"):
        assert not is_a_bug(dagsters), dagsters
    # A class Bayesline never raises on purpose, and a broken invariant, are bugs.
    for unexpected in ("KeyError", "SomethingNobodyDefined", SplitInvariantError.__name__):
        assert is_a_bug(unexpected), unexpected
        assert cause(unexpected) == (
            f"unexpected {unexpected}: why. This is a bug in Bayesline: please report it with "
            "the log file below"
        )


def test_the_landing_sensor_starts_no_run_while_the_config_is_broken(
    fractions_off, layout, monkeypatch
):
    write_csv(layout.landing / "app_reviews" / "new.csv", [("r1", "u1", "positive", "ok")])
    sensor = defs.resolve_sensor_def("landing_files_sensor")
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, resources=dict(defs.resources))
        skipped = sensor(context)
        assert isinstance(skipped, dg.SkipReason)
        assert "fractions sum to 0.9, not 1" in skipped.skip_message
        monkeypatch.setenv("BAYESLINE_CONFIG", str(REPO_ROOT / "bayesline.toml"))
        context = dg.build_sensor_context(instance=instance, resources=dict(defs.resources))
        assert isinstance(sensor(context), dg.RunRequest)  # the file still waits to be ingested


def test_a_programming_error_in_a_command_is_reported_as_a_bug_with_its_log(
    isolated_environment, monkeypatch
):
    def broken_list_versions(con):
        raise TypeError("list_versions() got an unexpected keyword argument 'limit'")

    monkeypatch.setattr("bayesline.cli.list_versions", broken_list_versions)
    result = runner.invoke(app, ["splits", "list"])
    assert result.exit_code == 1
    line = " ".join(error_line(result.stderr).split())  # the console may fold a long line
    assert "unexpected TypeError: list_versions() got an unexpected keyword" in line
    assert "This is a bug in Bayesline" in line and "please open an issue with the log" in line
    logged = re.search(r"the log file (\S+\.log)", line)
    assert logged, line
    log = Path(logged.group(1))
    assert log.parent == isolated_environment / "logs"
    assert "Traceback" in log.read_text() and "broken_list_versions" in log.read_text()


def test_a_user_error_is_its_message_and_exit_1_not_a_bug(isolated_environment):
    result = runner.invoke(app, ["splits", "show", "latest-ish"])
    assert result.exit_code == 1
    line = error_line(result.stderr)
    assert "'latest-ish' is not a split version; use a number such as 3 or v0003" in line
    assert "bug" not in line
    assert not (isolated_environment / "logs").exists()


LIBRARY_PACKAGES = ("deployment", "warehouse", "quality", "evaluation", "labeling", "handoff")


def test_every_exception_the_library_defines_derives_from_the_one_root():
    """The CLI tells a user's problem from a bug by `BayeslineError`: an exception class that
    does not derive from it would be reported as a bug however plain its cause."""
    import importlib
    import inspect
    import pkgutil

    from deployment.errors import BayeslineError

    outside = []
    for package in LIBRARY_PACKAGES:
        for module_info in pkgutil.iter_modules([str(REPO_ROOT / package)], f"{package}."):
            module = importlib.import_module(module_info.name)
            for name, cls in inspect.getmembers(module, inspect.isclass):
                is_error = issubclass(cls, BaseException) and cls.__module__ == module.__name__
                if is_error and not issubclass(cls, BayeslineError):
                    outside.append(f"{module.__name__}.{name}")
    assert not outside, f"not under BayeslineError: {outside}"
