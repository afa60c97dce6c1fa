"""Where the lake is: BAYESLINE_LAKE_URL and the S3 variables, read in deployment/settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deployment.settings import (
    LAKE_URL_ENV,
    S3_ENDPOINT_ENV,
    S3_KEY_ENV,
    S3_REGION_ENV,
    S3_SECRET_ENV,
    DeploymentError,
    lake_settings,
)

BAYESLINE = str(Path(sys.executable).with_name("bayesline"))


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (LAKE_URL_ENV, S3_ENDPOINT_ENV, S3_REGION_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(S3_KEY_ENV, "KEYID0001")
    monkeypatch.setenv(S3_SECRET_ENV, "s3cr3t-never-shown")
    return monkeypatch


def test_without_a_lake_url_the_lake_stays_local(s3_env):
    assert lake_settings() is None
    s3_env.setenv(LAKE_URL_ENV, "  ")
    assert lake_settings() is None


def test_a_lake_url_names_bucket_prefix_endpoint_and_region(s3_env):
    s3_env.setenv(LAKE_URL_ENV, "s3://team-lake/bayesline/prod/")
    s3_env.setenv(S3_ENDPOINT_ENV, "http://127.0.0.1:7480")
    s3_env.setenv(S3_REGION_ENV, "eu-west-3")
    settings = lake_settings()
    assert (settings.bucket, settings.prefix) == ("team-lake", "bayesline/prod")
    assert settings.url == "s3://team-lake/bayesline/prod"
    assert settings.filesystem_options()["endpoint_url"] == "http://127.0.0.1:7480"
    assert settings.filesystem_options()["client_kwargs"] == {"region_name": "eu-west-3"}
    assert "s3cr3t" not in repr(settings) + settings.describe()


def test_a_bucket_without_prefix_is_the_lake_root(s3_env):
    s3_env.setenv(LAKE_URL_ENV, "s3://team-lake")
    assert lake_settings().url == "s3://team-lake"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("gs://team-lake/x", "must look like s3://bucket/prefix"),
        ("/data/lake", "must look like s3://bucket/prefix"),
        ("s3://KEYID0001:s3cr3t-never-shown@team-lake/x", "take them out of the URL"),
    ],
)
def test_a_wrong_lake_url_says_what_to_do(s3_env, url, said):
    s3_env.setenv(LAKE_URL_ENV, url)
    with pytest.raises(DeploymentError, match=said) as raised:
        lake_settings()
    assert "s3cr3t" not in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1


def test_missing_keys_are_named(s3_env):
    s3_env.setenv(LAKE_URL_ENV, "s3://team-lake/x")
    s3_env.delenv(S3_SECRET_ENV)
    with pytest.raises(DeploymentError, match=f"{S3_SECRET_ENV} is not set"):
        lake_settings()


def test_an_endpoint_must_be_a_url(s3_env):
    s3_env.setenv(LAKE_URL_ENV, "s3://team-lake/x")
    s3_env.setenv(S3_ENDPOINT_ENV, "127.0.0.1:7480")
    with pytest.raises(DeploymentError, match="https://host:port"):
        lake_settings()


def test_the_cli_refuses_a_lake_url_without_keys_in_one_line(s3_env, layout):
    s3_env.setenv(LAKE_URL_ENV, "s3://team-lake/x")
    s3_env.delenv(S3_KEY_ENV)
    done = subprocess.run(
        [BAYESLINE, "splits", "list"],
        env={**os.environ, "COLUMNS": "1000"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    said = (done.stdout + done.stderr).strip()
    assert len(said.splitlines()) == 1, said
    assert S3_KEY_ENV in said and "s3cr3t" not in said
