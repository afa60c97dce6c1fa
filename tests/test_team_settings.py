"""The team deployment's settings, without a server: the pinned Dagster set, the one place the
deployment is read from, and a laptop that stays exactly as it was."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import requires, version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from bayesline.runner import ensure_dagster_home
from deployment.instance import instance_yaml
from deployment.settings import (
    POSTGRES_PASSFILE_ENV,
    POSTGRES_PASSWORD_ENV,
    POSTGRES_URL_ENV,
    DeploymentError,
    postgres_settings,
)
from tests.conftest import REPO_ROOT

DAGSTER_SET = ("dagster", "dagster-webserver", "dagster-postgres")
cli = CliRunner()


def pinned_versions() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    pins = {}
    for requirement in project["project"]["dependencies"]:
        name, _, pinned = requirement.partition("==")
        if name in DAGSTER_SET:
            pins[name] = pinned
    return pins


def test_dagster_webserver_and_postgres_are_pinned_and_installed_as_one_set():
    pins = pinned_versions()
    assert sorted(pins) == sorted(DAGSTER_SET), "pin dagster, the webserver and postgres together"
    assert {name: version(name) for name in DAGSTER_SET} == pins
    # dagster-postgres names the one dagster it works with: the installed one.
    wanted = [r for r in requires("dagster-postgres") if re.match(r"dagster\s*==", r)]
    assert wanted == [f"dagster=={version('dagster')}"], requires("dagster-postgres")


def test_a_laptop_keeps_the_repository_dagster_yaml_byte_for_byte(layout):
    dagster_home = ensure_dagster_home(layout)

    assert postgres_settings(layout.home) is None
    written = (dagster_home / "dagster.yaml").read_bytes()
    assert written == (REPO_ROOT / "dagster.yaml").read_bytes()


def test_the_team_setting_puts_dagster_storage_on_postgresql_without_the_password(
    layout, tmp_path, monkeypatch
):
    passfile = tmp_path / "pgpass"
    passfile.write_text("db.team.example:6543:*:ana:s3cret-word\n")
    passfile.chmod(0o600)
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgresql://ana@db.team.example:6543/bayesline")
    monkeypatch.setenv(POSTGRES_PASSFILE_ENV, str(passfile))

    settings = postgres_settings(layout.home)
    text = instance_yaml((REPO_ROOT / "dagster.yaml").read_text(), settings)

    assert text.startswith((REPO_ROOT / "dagster.yaml").read_text().rstrip("\n"))
    storage = text[text.index("storage:") :]
    assert 'hostname: "db.team.example"' in storage and "port: 6543" in storage
    assert 'db_name: "bayesline"' in storage and "scheme: postgresql+psycopg2" in storage
    assert f'passfile: "{passfile}"' in storage
    assert "s3cret" not in text


def test_a_password_in_the_environment_is_referenced_never_written(layout, monkeypatch):
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgresql://ana@127.0.0.1/dagster")
    monkeypatch.setenv(POSTGRES_PASSWORD_ENV, "s3cret-word")

    settings = postgres_settings(layout.home)
    text = instance_yaml("telemetry:\n  enabled: false\n", settings)

    assert settings.port == 5432
    assert f"password: {{env: {POSTGRES_PASSWORD_ENV}}}" in text
    assert "s3cret" not in text
    assert settings.connect_kwargs("x")["password"] == "s3cret-word"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://ana:s3cret@db:5432/dagster", "holds a password: take it out of the URL"),
        ("mysql://ana@db/dagster", "must look like postgresql://user@host:5432/database"),
        ("postgresql://ana@db:5432/", "names no database"),
        ("postgresql://db:5432/dagster", "must look like postgresql://user@host:5432/database"),
    ],
)
def test_a_wrong_team_url_is_one_line_saying_what_to_fix_and_never_echoes_a_password(
    layout, monkeypatch, url, said
):
    monkeypatch.setenv(POSTGRES_URL_ENV, url)

    done = cli.invoke(app, ["runs"], env={"COLUMNS": "1000"})

    assert done.exit_code == 1
    assert said in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "s3cret" not in done.output + done.stderr


def test_a_password_file_others_can_read_is_refused(layout, tmp_path, monkeypatch):
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:ana:s3cret\n")
    passfile.chmod(0o644)
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgresql://ana@db/dagster")
    monkeypatch.setenv(POSTGRES_PASSFILE_ENV, str(passfile))

    with pytest.raises(DeploymentError, match=re.escape(f"`chmod 600 {passfile}`")):
        postgres_settings(layout.home)


def test_team_up_without_debian_postgresql_says_how_to_install_it(layout, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    done = cli.invoke(app, ["team", "up"], env={"COLUMNS": "1000"})

    assert done.exit_code == 1
    assert "apt-get install postgresql" in done.stderr
    assert not (layout.home / "team").exists()
    assert ensure_dagster_home(layout) == Path(layout.home / "dagster").resolve()


def test_the_team_url_wins_over_the_cluster_team_up_recorded(layout, monkeypatch):
    recorded = layout.home / "team" / "postgres.json"
    recorded.parent.mkdir(parents=True)
    recorded.write_text('{"url": "postgresql://bayesline@127.0.0.1:5999/dagster", "passfile": ""}')
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgresql://ana@db.team.example/warehouse")

    settings = postgres_settings(layout.home)

    assert (settings.host, settings.user, settings.database) == (
        "db.team.example",
        "ana",
        "warehouse",
    )


def test_a_damaged_record_of_team_up_says_to_run_it_again(layout):
    recorded = layout.home / "team" / "postgres.json"
    recorded.parent.mkdir(parents=True)
    recorded.write_text('{"url": "postgresql://bayes')

    with pytest.raises(DeploymentError, match=r"damaged .*run `bayesline team up`"):
        postgres_settings(layout.home)
