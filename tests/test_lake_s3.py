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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from deployment.settings import (
    LAKE_URL_ENV,
    POSTGRES_PASSFILE_ENV,
    POSTGRES_URL_ENV,
    S3_ENDPOINT_ENV,
    S3_KEY_ENV,
    S3_REGION_ENV,
    S3_SECRET_ENV,
    PostgresSettings,
)
from handoff.api import load_split
from handoff.loading import version_of
from labeling.client import api_token
from tests.conftest import REPO_ROOT, one_row
from tests.postgres_fixtures import connect, fresh_database
from tests.review_files import write_reviews
from tests.s3_fixtures import S3Server
from warehouse.catalog import WAREHOUSE_VIEWS, open_catalog, open_reader
from warehouse.config import load_config
from warehouse.lake_store import (
    COMMIT_MARKER,
    STAGING_PREFIX,
    PublishedFolderError,
    lake_store,
)
from warehouse.layout import WarehouseLayout
from warehouse.pause_points import PAUSE_AT_ENV, PAUSE_MARKER_ENV
from warehouse.split_names import SPLITS

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


def materialize(
    env_extra: dict[str, str] | None = None,
    select: str | None = "*published_splits",
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """`bayesline materialize` (up to the published splits unless `select` is None: the
    whole pipeline), as a user runs it."""
    return subprocess.Popen(
        [BAYESLINE, "materialize", *(["--select", select] if select else [])],
        cwd=REPO_ROOT,
        env={**(os.environ if env is None else env), "COLUMNS": "1000", **(env_extra or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a kill takes every child too
    )


def finish(run: subprocess.Popen) -> str:
    output = run.communicate(timeout=600)[0]
    assert run.returncode == 0, output
    secret = os.environ.get(S3_SECRET_ENV)
    assert not secret or secret not in output, "the storage's secret key reached a log"
    return output


def kill_at(point: str, tmp_path: Path) -> None:
    """Start a materialisation, wait until it pauses at `point`, and kill -9 its group."""
    marker = tmp_path / f"paused-at-{point}"
    run = materialize({PAUSE_AT_ENV: point, PAUSE_MARKER_ENV: str(marker)})
    assert run.stdout is not None  # stdout=PIPE
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


#: Lake tables whose files are written once and never replaced (evaluation/ and the per-version
#: labeling tables are replaced by each run, under the same names).
IMMUTABLE_TABLES = ("examples/", "rejected_rows/", "ingested_files/", "batch_decisions/",
                    "predictions/", "splits/", "labeling/queue/", "labeling/annotations/",
                    "labeling/corrections/", "evaluation/champions/")  # fmt: skip


@dataclass
class WholePipeline:
    """The whole pipeline run twice on a lake on Ceph with Dagster on PostgreSQL, and once on a
    local lake from the same landing files: what the tests below read."""

    home: Path
    env: dict[str, str]
    lake_url: str
    postgres: PostgresSettings
    #: The lake's objects after the first run and after the second.
    first: dict[str, dict]
    second: dict[str, dict]
    #: Row counts of every warehouse view: on S3 (through open_reader and through the catalog
    #: file opened by open_catalog) and on the local lake.
    counts_on_s3: dict[str, int]
    counts_in_catalog: dict[str, int]
    counts_on_local_lake: dict[str, int]


def land_reviews(home: Path) -> None:
    write_reviews(home / "landing" / "app_reviews" / "a1.csv", "a1", 120, malformed=2)
    write_reviews(home / "landing" / "web_reviews" / "w1.csv", "w1", 150)


def home_env(home: Path) -> dict[str, str]:
    """What isolated_environment sets for a test, for a home shared by a module."""
    return {
        "BAYESLINE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "BAYESLINE_CONFIG": str(REPO_ROOT / "bayesline.toml"),
        "GX_ANALYTICS_ENABLED": "false",
    }


def lake_env(s3_server: S3Server, url: str) -> dict[str, str]:
    """The lake on a prefix of the session's bucket, set as a team would set it."""
    return {
        LAKE_URL_ENV: url,
        S3_ENDPOINT_ENV: s3_server.endpoint,
        S3_REGION_ENV: s3_server.region,
        S3_KEY_ENV: s3_server.access_key,
        S3_SECRET_ENV: s3_server.secret_key,
    }


def view_counts(home: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Rows in every view: read as `bayesline sql` reads, and from warehouse.duckdb."""
    layout = WarehouseLayout(home)
    with open_reader(layout, load_config()) as con:
        read = {v: one_row(con.execute(f"SELECT count(*) FROM {v}"))[0] for v in WAREHOUSE_VIEWS}
    with open_catalog(layout) as con:
        stored = {v: one_row(con.execute(f"SELECT count(*) FROM {v}"))[0] for v in WAREHOUSE_VIEWS}
    return read, stored


@pytest.fixture(scope="module")
def whole_pipeline(
    s3_server: S3Server, team_cluster: PostgresSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WholePipeline]:
    """One S3 lake for the module's tests that only read what the pipeline made (the last test
    adds a delivery to it); the local lake's run goes alongside the first S3 run."""
    root = tmp_path_factory.mktemp("whole-pipeline")
    home, local_home = root / "on-s3" / "bayesline-home", root / "local" / "bayesline-home"
    url = f"s3://{s3_server.bucket}/lake-{uuid.uuid4().hex[:12]}"
    with pytest.MonkeyPatch.context() as env, fresh_database(team_cluster, env) as postgres:
        shared_env = {**home_env(home), **lake_env(s3_server, url)}
        for name, value in shared_env.items():
            env.setenv(name, value)
        shared_env |= {name: os.environ[name] for name in (POSTGRES_URL_ENV, POSTGRES_PASSFILE_ENV)}
        for folder in (home, local_home):
            land_reviews(folder)
        local_env = {
            k: v for k, v in os.environ.items() if k not in (LAKE_URL_ENV, POSTGRES_URL_ENV)
        }
        local_run = materialize(select=None, env=local_env | home_env(local_home))
        finish(materialize(select=None))
        finish(local_run)
        first = objects(s3_server, url)
        finish(materialize(select=None))
        second = objects(s3_server, url)
        counts_on_s3, counts_in_catalog = view_counts(home)
        with pytest.MonkeyPatch.context() as local:
            for name in (LAKE_URL_ENV, POSTGRES_URL_ENV):
                local.delenv(name)
            counts_on_local_lake = view_counts(local_home)[0]
        yield WholePipeline(
            home, {name: os.environ[name] for name in shared_env}, url, postgres, first, second,
            counts_on_s3, counts_in_catalog, counts_on_local_lake,
        )  # fmt: skip


@pytest.fixture
def on_whole_pipeline(
    whole_pipeline: WholePipeline, monkeypatch: pytest.MonkeyPatch
) -> WholePipeline:
    """This test reads (and may add to) the module's warehouse, as its own environment."""
    for name, value in whole_pipeline.env.items():
        monkeypatch.setenv(name, value)
    return whole_pipeline


@pytest.mark.slow
def test_the_whole_pipeline_runs_with_dagster_on_postgresql_and_no_lake_file_on_local_disk(
    on_whole_pipeline: WholePipeline,
):
    run = on_whole_pipeline
    con = connect(run.postgres)
    with con.cursor() as cursor:
        cursor.execute("SELECT pipeline_name, status FROM runs ORDER BY create_timestamp")
        runs = cursor.fetchall()
    con.close()
    assert runs == [("bayesline_pipeline", "SUCCESS")] * 2
    assert not (run.home / "dagster" / "history").exists(), "nothing went to SQLite here"
    assert not list(run.home.rglob("*.parquet")), "every lake table is on object storage"
    assert not (run.home / "lake").exists() or not any((run.home / "lake").rglob("*"))
    tables = {key.split("/", 1)[0] for key in run.first}
    assert {"examples", "rejected_rows", "ingested_files", "splits", "predictions",
            "evaluation"} <= tables  # fmt: skip
    assert not [key for key in run.second if STAGING_PREFIX in key or key.endswith(".tmp")]


@pytest.mark.slow
def test_every_view_counts_the_same_rows_on_s3_as_on_a_local_lake(
    on_whole_pipeline: WholePipeline,
):
    run = on_whole_pipeline
    assert run.counts_on_s3 == run.counts_on_local_lake
    assert run.counts_in_catalog == run.counts_on_s3
    assert run.counts_on_s3["examples"] == 270
    assert run.counts_on_s3["rejected_rows"] == 2
    populated = {view for view, n in run.counts_on_s3.items() if n}
    assert {"splits", "split_versions", "predictions", "slice_metrics", "diagnosis"} <= populated
    assert sql("SELECT count(*) FROM diagnosis") == [str(run.counts_on_s3["diagnosis"])]


@pytest.mark.slow
def test_a_second_run_on_s3_writes_no_new_object_and_rewrites_no_immutable_one(
    on_whole_pipeline: WholePipeline,
):
    run = on_whole_pipeline
    assert set(run.second) == set(run.first), "the same input makes no new object"
    immutable = {key for key in run.first if key.startswith(IMMUTABLE_TABLES)}
    assert any(key.startswith("examples/") for key in immutable)
    assert {k: run.second[k]["ETag"] for k in immutable} == {
        k: run.first[k]["ETag"] for k in immutable
    }
    assert sql("SELECT count(*) FROM split_versions") == ["1"]


@pytest.mark.slow
def test_the_catalog_file_says_how_to_read_an_s3_lake_which_a_plain_client_cannot(
    on_whole_pipeline: WholePipeline,
):
    catalog = WarehouseLayout(on_whole_pipeline.home).catalog_path
    offline: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    with duckdb.connect(str(catalog), read_only=True, config=offline) as plain:
        with pytest.raises(duckdb.Error, match="s3://"):
            plain.execute("SELECT count(*) FROM examples").fetchall()
        comments = plain.execute("SELECT DISTINCT comment FROM duckdb_views() WHERE NOT internal")
        (comment,) = one_row(comments)
    assert on_whole_pipeline.lake_url in comment and "open_catalog" in comment


@pytest.mark.slow
@pytest.mark.labelstudio
def test_the_labeling_steps_keep_their_tables_on_s3_and_sql_reads_them(
    on_whole_pipeline: WholePipeline, s3_server: S3Server, labelstudio, tmp_path, monkeypatch
):
    """With Label Studio reachable, a run on the S3 lake queues tasks, syncs the simulated
    annotators' labels and writes the labeling tables: all of them as objects, none on disk."""
    settings, state = labelstudio
    monkeypatch.setenv("LABEL_STUDIO_URL", state.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", api_token(settings))
    config = (REPO_ROOT / "bayesline.toml").read_text()
    title = 'project_title = "Bayesline demo: human-level baseline"'
    assert title in config
    config = config.replace(title, f'project_title = "s3 lake {tmp_path.name}"')
    (tmp_path / "bayesline.toml").write_text(config)
    monkeypatch.setenv("BAYESLINE_CONFIG", str(tmp_path / "bayesline.toml"))
    lake_url, home = on_whole_pipeline.lake_url, on_whole_pipeline.home
    before = objects(s3_server, lake_url)

    # Only the labeling steps: everything upstream of them is on the lake from the runs before.
    finish(materialize(select="key:labeling_queue or key:human_annotations"))

    added = set(objects(s3_server, lake_url)) - set(before)
    labeling_tables = {key.split("/")[1] for key in added if key.startswith("labeling/")}
    assert {"queue", "annotations"} <= labeling_tables, sorted(added)
    assert not list(home.rglob("*.parquet")), "the labeling tables went to object storage too"
    ((queued, queued_examples),) = [
        map(int, row.split(","))
        for row in sql("SELECT count(*), count(DISTINCT example_id) FROM labeling_queue")
    ]
    assert queued == queued_examples > 0
    ((annotations, distinct),) = [
        map(int, row.split(","))
        for row in sql("SELECT count(*), count(DISTINCT annotation_id) FROM human_annotations")
    ]
    assert annotations == distinct >= queued, "each queued task labeled, none twice"


@pytest.mark.slow
def test_splits_published_on_s3_are_read_by_sql_load_split_and_export(
    on_whole_pipeline: WholePipeline, s3_server: S3Server, tmp_path: Path
):
    s3_lake = on_whole_pipeline.lake_url
    stored = objects(s3_server, s3_lake)
    v1 = {key: info for key, info in stored.items() if key.startswith("splits/v0001/")}
    assert {f"splits/v0001/{s}.parquet" for s in SPLITS} <= set(v1)
    assert {"splits/v0001/_meta/manifest.json", f"splits/v0001/{COMMIT_MARKER}"} <= set(v1)
    assert not [key for key in stored if STAGING_PREFIX in key], "no staging prefix left"
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


@pytest.mark.slow
def test_a_delivery_killed_twice_on_s3_leaves_v1_alone_and_the_next_run_publishes_v2(
    on_whole_pipeline: WholePipeline, s3_server: S3Server, tmp_path: Path
):
    """Last in the module: it adds a delivery to the shared warehouse. Its publish is killed
    with the objects staged, then (the retry) with them placed but no commit marker yet:
    neither shows a version 2 or touches version 1, and the third run publishes v2 beside v1."""
    s3_lake, home = on_whole_pipeline.lake_url, on_whole_pipeline.home
    v1 = {k: v["ETag"] for k, v in objects(s3_server, s3_lake).items() if "/v0001/" in k}
    write_reviews(home / "landing" / "web_reviews" / "w2.csv", "w2", 40)
    built_in_scratch: list[Path] = []
    for point in ("lake.objects_staged", "lake.objects_placed"):
        kill_at(point, tmp_path)
        in_scratch = list(WarehouseLayout(home).scratch.glob(".v0002.*.tmp"))
        assert set(in_scratch) - set(built_in_scratch), f"building in scratch at {point}"
        built_in_scratch += in_scratch

        debris = objects(s3_server, s3_lake)
        left = [key for key in debris if key.startswith("splits/") and "/v0001/" not in key]
        assert left, f"the kill at {point} left objects behind"
        assert f"splits/v0002/{COMMIT_MARKER}" not in debris
        assert {key: debris[key]["ETag"] for key in v1} == v1
        assert sql("SELECT version FROM split_versions") == ["1"]
        assert sql("SELECT DISTINCT version FROM splits") == ["1"]
        assert version_of(load_split("latest", "train")) == 1

    finish(materialize())
    after = objects(s3_server, s3_lake)
    assert {key: after[key]["ETag"] for key in v1} == v1, "v1 keeps its bytes and ETags"
    assert_version_whole(s3_server, s3_lake, 1)
    assert_version_whole(s3_server, s3_lake, 2)
    assert sql("SELECT version, count(*) FROM splits GROUP BY 1 ORDER BY 1") == [
        "1,270",
        "2,310",
    ]
    assert not [key for key in after if STAGING_PREFIX in key], "the staging prefix was swept"
    assert not any(path.exists() for path in built_in_scratch), "and the scratch leftovers"
    n_dev = sql("SELECT n_dev FROM split_versions WHERE version = 2")[0]
    assert load_split("latest", "dev").num_rows == int(n_dev)


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
