"""The lake on S3-compatible object storage, tested against a real Ceph RGW (tests/s3_fixtures)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from deployment.settings import (
    LAKE_URL_ENV,
    S3_ENDPOINT_ENV,
    S3_KEY_ENV,
    S3_REGION_ENV,
    S3_SECRET_ENV,
)
from handoff.api import load_split
from handoff.loading import version_of
from tests.conftest import REPO_ROOT
from tests.review_files import write_reviews
from tests.s3_fixtures import S3Server
from warehouse.lake_store import (
    COMMIT_MARKER,
    STAGING_PREFIX,
    PublishedFolderError,
    lake_store,
)
from warehouse.layout import WarehouseLayout
from warehouse.pause_points import PAUSE_AT_ENV, PAUSE_MARKER_ENV
from warehouse.split_names import SPLITS
from warehouse.versions import UnknownVersionError

BAYESLINE = str(Path(sys.executable).with_name("bayesline"))
PAUSE_TIMEOUT_S = 300
cli = CliRunner()


def test_the_session_gateway_stores_and_lists_objects(s3_server: S3Server):
    fs = s3_server.filesystem()
    key = f"{s3_server.bucket}/probe-{uuid.uuid4().hex}/hello.txt"
    fs.pipe(key, b"hello, object storage")
    assert fs.cat(key) == b"hello, object storage"
    assert fs.ls(key.rsplit("/", 1)[0]) == [key]
    fs.rm(key)
    assert not fs.exists(key)


@pytest.fixture
def s3_lake(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """This test's lake: a fresh prefix of the session's bucket, set as a team would set it."""
    url = f"s3://{s3_server.bucket}/lake-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv(LAKE_URL_ENV, url)
    monkeypatch.setenv(S3_ENDPOINT_ENV, s3_server.endpoint)
    monkeypatch.setenv(S3_REGION_ENV, s3_server.region)
    monkeypatch.setenv(S3_KEY_ENV, s3_server.access_key)
    monkeypatch.setenv(S3_SECRET_ENV, s3_server.secret_key)
    return url


@pytest.fixture
def landed(layout: WarehouseLayout) -> WarehouseLayout:
    write_reviews(layout.landing / "app_reviews" / "a1.csv", "a1", 120, malformed=2)
    write_reviews(layout.landing / "web_reviews" / "w1.csv", "w1", 150)
    return layout


def materialize(env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    """`bayesline materialize` up to the published splits, as a user runs it."""
    return subprocess.Popen(
        [BAYESLINE, "materialize", "--select", "*published_splits"],
        cwd=REPO_ROOT,
        env={**os.environ, "COLUMNS": "1000", **(env_extra or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a kill takes every child too
    )


def finish(run: subprocess.Popen) -> str:
    output = run.communicate(timeout=600)[0]
    assert run.returncode == 0, output
    assert os.environ[S3_SECRET_ENV] not in output, "the storage's secret key reached a log"
    return output


def kill_at(point: str, tmp_path: Path) -> None:
    """Start a materialisation, wait until it pauses at `point`, and kill -9 its group."""
    marker = tmp_path / f"paused-at-{point}"
    run = materialize({PAUSE_AT_ENV: point, PAUSE_MARKER_ENV: str(marker)})
    deadline = time.monotonic() + PAUSE_TIMEOUT_S
    try:
        while not marker.exists():
            if run.poll() is not None:
                pytest.fail(f"the run ended before {point}:\n{run.stdout.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the run never reached {point}")
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        run.stdout.close()


def sql(query: str) -> list[str]:
    done = cli.invoke(app, ["sql", query, "--format", "csv"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.stdout.splitlines()[1:]


def objects(s3_server: S3Server, lake_url: str) -> dict[str, dict]:
    """Every object under the lake's prefix (key relative to it) with its ETag and size,
    listed by s3fs on the server itself."""
    root = lake_url.removeprefix("s3://")
    found = s3_server.filesystem().find(root, detail=True)
    return {key.removeprefix(root + "/"): info for key, info in found.items()}


def assert_version_whole(s3_server: S3Server, lake_url: str, version: int) -> None:
    """The version's objects are those its manifest lists, each with the recorded sha256."""
    fs = s3_server.filesystem()
    folder = f"{lake_url.removeprefix('s3://')}/splits/v{version:04d}"
    manifest = json.loads(fs.cat(f"{folder}/_meta/manifest.json"))
    for name, described in manifest["files"].items():
        assert hashlib.sha256(fs.cat(f"{folder}/{name}")).hexdigest() == described["sha256"]
    assert fs.exists(f"{folder}/{COMMIT_MARKER}")


@pytest.mark.slow
def test_splits_published_on_s3_are_read_by_sql_and_load_split_and_never_overwritten(
    team_database, s3_lake, s3_server, landed, tmp_path
):
    finish(materialize())

    stored = objects(s3_server, s3_lake)
    v1 = {key: info for key, info in stored.items() if key.startswith("splits/v0001/")}
    assert {f"splits/v0001/{s}.parquet" for s in SPLITS} <= set(v1)
    assert {"splits/v0001/_meta/manifest.json", f"splits/v0001/{COMMIT_MARKER}"} <= set(v1)
    assert not [key for key in stored if STAGING_PREFIX in key], "no staging prefix left"
    assert not landed.splits_dir.exists() or not any(landed.splits_dir.iterdir())
    assert_version_whole(s3_server, s3_lake, 1)

    assert sql("SELECT count(*), count(DISTINCT example_id) FROM splits WHERE version = 1") == [
        "270,270"
    ]
    assert sql("SELECT version, n_train + n_train_dev + n_dev + n_test FROM split_versions") == [
        "1,270"
    ]
    train = load_split(1, "train")
    assert version_of(train) == 1
    assert sql("SELECT count(*) FROM splits WHERE version = 1 AND split = 'train'") == [
        str(train.num_rows)
    ]
    assert train.num_rows > 0
    exported = cli.invoke(
        app, ["export", "--version", "1", "--out", str(tmp_path / "v1")], catch_exceptions=False
    )
    assert exported.exit_code == 0, exported.output
    assert pq.read_table(tmp_path / "v1" / "data").num_rows == 270

    # A second delivery publishes v2 beside v1; v1's objects keep their bytes and ETags.
    write_reviews(landed.landing / "web_reviews" / "w2.csv", "w2", 40)
    finish(materialize())
    after = objects(s3_server, s3_lake)
    assert {key: after[key]["ETag"] for key in v1} == {key: v1[key]["ETag"] for key in v1}
    assert_version_whole(s3_server, s3_lake, 1)
    assert_version_whole(s3_server, s3_lake, 2)
    assert sql("SELECT version, count(*) FROM splits GROUP BY 1 ORDER BY 1") == [
        "1,270",
        "2,310",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("point", ["lake.objects_staged", "lake.objects_placed"])
def test_a_publish_killed_on_s3_shows_no_version_and_the_next_run_converges(
    s3_lake, s3_server, landed, tmp_path, point
):
    kill_at(point, tmp_path)

    debris = objects(s3_server, s3_lake)
    assert any(key.startswith("splits/") for key in debris), "the kill left objects behind"
    assert COMMIT_MARKER not in {key.rsplit("/", 1)[-1] for key in debris}
    assert sql("SELECT count(*) FROM split_versions") == ["0"]
    assert sql("SELECT count(*) FROM splits") == ["0"]
    with pytest.raises(UnknownVersionError):
        load_split("latest", "train")

    finish(materialize())
    assert sql("SELECT version FROM split_versions") == ["1"]
    assert_version_whole(s3_server, s3_lake, 1)
    stored = objects(s3_server, s3_lake)
    assert not [key for key in stored if STAGING_PREFIX in key], "the staging prefix was swept"
    assert load_split("latest", "dev").num_rows == int(sql("SELECT n_dev FROM split_versions")[0])


def test_a_folder_published_on_s3_is_never_overwritten(s3_lake, s3_server, tmp_path):
    store = lake_store(tmp_path / "unused-local-lake")
    assert store.remote
    built = tmp_path / "built"
    (built / "_meta").mkdir(parents=True)
    (built / "a.parquet").write_bytes(b"first bytes")
    (built / "_meta" / "manifest.json").write_bytes(b"{}")
    assert store.published_folders("things") == []

    store.publish_folder(built, "things", "v0001")
    assert store.published_folders("things") == ["v0001"]
    etags = {k: v["ETag"] for k, v in objects(s3_server, s3_lake).items()}
    assert set(etags) == {"things/v0001/a.parquet", "things/v0001/_meta/manifest.json",
                          f"things/v0001/{COMMIT_MARKER}"}  # fmt: skip

    (built / "a.parquet").write_bytes(b"other bytes")
    with pytest.raises(PublishedFolderError, match="never overwritten"):
        store.publish_folder(built, "things", "v0001")
    assert store.read_bytes("things", "v0001", "a.parquet") == b"first bytes"
    assert {k: v["ETag"] for k, v in objects(s3_server, s3_lake).items()} == etags
