"""DuckDB's memory cap: every connection Bayesline opens has it, and running out under it says
how to raise it."""

import duckdb
import pytest
from typer.testing import CliRunner

from bayesline import cli
from warehouse.catalog import open_reader
from warehouse.storage import DEFAULT_MEMORY_LIMIT, MemoryCapError, writer_connection

#: Needs far more than the tiny caps below, and DuckDB cannot spill a list being built.
HUNGRY_QUERY = "SELECT list(i) FROM range(20000000) AS t(i)"


@pytest.mark.parametrize("configured", [None, "700MB"])
def test_readers_have_the_warehouse_memory_cap(layout, small_config, monkeypatch, configured):
    if configured:
        monkeypatch.setenv("BAYESLINE_MEMORY_LIMIT", configured)
    else:
        monkeypatch.delenv("BAYESLINE_MEMORY_LIMIT", raising=False)
    with duckdb.connect() as probe:  # what DuckDB reports for the cap we expect
        probe.execute(f"SET memory_limit = '{configured or DEFAULT_MEMORY_LIMIT}'")
        (expected,) = probe.execute("SELECT current_setting('memory_limit')").fetchone()
    with open_reader(layout, small_config) as con:
        (setting,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    assert setting == expected


def test_a_writer_that_runs_out_of_memory_says_how_to_raise_the_cap(layout):
    with (
        pytest.raises(MemoryCapError, match="set BAYESLINE_MEMORY_LIMIT higher") as raised,
        writer_connection(layout, memory_limit="30MB") as con,
    ):
        con.execute(HUNGRY_QUERY).fetchall()
    assert "30MB" in str(raised.value)
    assert isinstance(raised.value.__cause__, duckdb.OutOfMemoryException)


def test_sql_that_runs_out_of_memory_says_how_to_raise_the_cap(layout, monkeypatch):
    monkeypatch.setenv("BAYESLINE_MEMORY_LIMIT", "30MB")
    result = CliRunner().invoke(cli.app, ["sql", HUNGRY_QUERY])
    assert result.exit_code == 1
    assert "BAYESLINE_MEMORY_LIMIT" in result.output and "30MB" in result.output


def test_the_command_turns_a_memory_cap_error_into_advice(layout, monkeypatch, capsys):
    def write_under_a_tiny_cap() -> None:  # what any writing command does, run out of memory
        with writer_connection(layout, memory_limit="30MB") as con:
            con.execute(HUNGRY_QUERY).fetchall()

    monkeypatch.setattr(cli, "app", write_under_a_tiny_cap)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1
    said = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "set BAYESLINE_MEMORY_LIMIT higher" in said
