"""Fault tests: `kill -9` a real `bayesline materialize` at chosen moments, then run again.

Each materialisation is a real process in its own process group, on a real Dagster instance
and a real lake in tmp_path. The kill moment is a named pause point (warehouse/pause_points.py):
the run announces it has reached the point and waits there, and the test kills its whole
process group. The next run must complete without help, with nothing lost, duplicated or
half-written, as a user would check it: `bayesline sql`, `bayesline runs`, the lake's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from bayesline.runner import WAITED_TAG
from labeling.client import api_token
from tests.conftest import REPO_ROOT
from tests.review_files import write_reviews
from warehouse.layout import WarehouseLayout
from warehouse.pause_points import PAUSE_AT_ENV, PAUSE_MARKER_ENV

pytestmark = pytest.mark.slow

BAYESLINE = str(Path(sys.executable).with_name("bayesline"))
PAUSE_TIMEOUT_S = 240
cli = CliRunner()
#: Hand-written landing files: (source, file name, valid rows, rows with no label).
LANDING = [
    ("app_reviews", "a1.csv", 150, 2),
    ("app_reviews", "a2.csv", 140, 0),
    ("web_reviews", "w1.csv", 200, 1),
    ("web_reviews", "w2.csv", 180, 0),
]
VALID_ROWS = sum(n for *_, n, _ in LANDING)
MALFORMED_ROWS = sum(bad for *_, bad in LANDING)
#: Tasks in the labeling test's overall sample; each simulated annotation is one request.
OVERALL_CAP = 10


@pytest.fixture
def landed(layout: WarehouseLayout) -> WarehouseLayout:
    for source, name, n, bad in LANDING:
        write_reviews(layout.landing / source / name, Path(name).stem, n, malformed=bad)
    return layout


def start_materialize(
    select: str | None, env_extra: dict[str, str] | None = None
) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "1000", **(env_extra or {})}
    return subprocess.Popen(
        [BAYESLINE, "materialize", *(["--select", select] if select else [])],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill takes every child too
    )


def kill_at(point: str, select: str | None, tmp_path: Path) -> None:
    """Start a materialisation, wait until it pauses at `point`, and kill -9 its group."""
    marker = tmp_path / f"paused-at-{point}"
    run = start_materialize(select, {PAUSE_AT_ENV: point, PAUSE_MARKER_ENV: str(marker)})
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
    assert marker.read_text().startswith(point)


def finish(run: subprocess.Popen) -> str:
    output = run.communicate(timeout=300)[0]
    assert run.returncode == 0, output
    return output


def sql(query: str) -> list[str]:
    done = cli.invoke(app, ["sql", query, "--format", "csv"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.stdout.splitlines()[1:]


def assert_lake_whole(layout: WarehouseLayout, versions: int | None) -> None:
    """Every example once, every malformed row quarantined once, every version as its
    manifest says, and nothing staged or half-written in sight."""
    assert sql("SELECT count(*), count(DISTINCT example_id) FROM examples") == [
        f"{VALID_ROWS},{VALID_ROWS}"
    ]
    assert sql("SELECT count(*) FROM rejected_rows") == [str(MALFORMED_ROWS)]
    assert sorted(p.name for p in layout.ingested_files_dir.iterdir()) == sorted(
        p.name for p in layout.ingested_files_dir.glob("*.parquet")
    )
    assert len(list(layout.ingested_files_dir.glob("*.parquet"))) == len(LANDING)
    published = sorted(p for p in layout.splits_dir.glob("v*") if p.is_dir())
    if versions is not None:
        assert [p.name for p in published] == [f"v{n:04d}" for n in range(1, versions + 1)]
    for version in published:
        manifest = json.loads((version / "_meta" / "manifest.json").read_text())
        for name, described in manifest["files"].items():
            digest = hashlib.sha256((version / name).read_bytes()).hexdigest()
            assert digest == described["sha256"], f"{version.name}/{name}"
    leftovers = [p for p in layout.lake.rglob(".*") if p.name != ".writer.lock"]
    assert leftovers == []


def assert_no_run_in_progress() -> str:
    listed = cli.invoke(app, ["runs"], env={"COLUMNS": "1000"}, catch_exceptions=False).stdout
    assert "STARTED" not in listed and "stale" not in listed, listed
    return listed


@pytest.mark.parametrize(
    ("point", "select", "versions", "staged"),
    [
        ("lake.file_staged", "examples", None, True),  # during ingest: a file half-written
        ("ingest.between_files", "examples", None, False),  # one file done, the rest not begun
        ("publish.version_staged", "*published_splits", 1, True),  # a version not yet renamed
    ],
)
def test_a_run_killed_mid_write_is_cleared_by_the_next_run_with_nothing_lost(
    landed, tmp_path, point, select, versions, staged
):
    kill_at(point, select, tmp_path)
    assert bool(list(landed.lake.rglob(".*.tmp"))) == staged

    output = finish(start_materialize(select))

    assert "Freed run" in output and "is gone: killed or crashed" in output
    assert ("a staging leftover of a killed run" in output) == staged
    assert_lake_whole(landed, versions)
    listed = assert_no_run_in_progress()
    assert listed.count("FAILURE") == 1 and listed.count("SUCCESS") == 1


def test_two_materialisations_at_once_one_waits_and_both_complete(landed):
    first = start_materialize("*published_splits")
    second = start_materialize("*published_splits")
    outputs = [finish(first), finish(second)]

    waited = [out for out in outputs if "Waiting: " in out]
    assert len(waited) == 1, outputs
    assert "holds the warehouse writer" in waited[0]
    with dg.DagsterInstance.get() as instance:
        (waiter,) = [r for r in instance.get_runs() if WAITED_TAG in r.tags]
        said = [entry.message for entry in instance.all_logs(waiter.run_id)]
    assert any(m.startswith("Before starting, this run waited") for m in said), said
    assert_lake_whole(landed, versions=1)  # the second run found nothing new to publish
    assert assert_no_run_in_progress().count("SUCCESS") == 2


@pytest.mark.labelstudio
def test_a_run_killed_during_the_labeling_sync_loses_and_doubles_no_annotation(
    landed, labelstudio, tmp_path, monkeypatch
):
    settings, state = labelstudio
    monkeypatch.setenv("LABEL_STUDIO_URL", state.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", api_token(settings))
    config = (REPO_ROOT / "bayesline.toml").read_text()
    config = config.replace(
        'project_title = "Bayesline demo: human-level baseline"',
        f'project_title = "killed sync {tmp_path.name}"',
    ).replace("overall_cap = 120", f"overall_cap = {OVERALL_CAP}")
    (tmp_path / "bayesline.toml").write_text(config)
    monkeypatch.setenv("BAYESLINE_CONFIG", str(tmp_path / "bayesline.toml"))

    kill_at("labeling.annotations_fetched", None, tmp_path)
    assert sql("SELECT count(*) FROM human_annotations") == ["0"]

    output = finish(start_materialize(None))

    assert "Freed run" in output and "is gone: killed or crashed" in output
    # The overall sample: each task labeled once by each of the 3 simulated annotators.
    annotations = OVERALL_CAP * 3
    assert sql("SELECT count(*), count(DISTINCT annotation_id) FROM human_annotations") == [
        f"{annotations},{annotations}"
    ]
    queued = sql("SELECT count(*), count(DISTINCT example_id) FROM labeling_queue")
    assert queued == [f"{OVERALL_CAP},{OVERALL_CAP}"]
    assert_lake_whole(landed, versions=1)
    assert_no_run_in_progress()


def test_ctrl_c_cancels_the_run_and_frees_its_slot(landed, tmp_path):
    marker = tmp_path / "paused"
    run = start_materialize(
        "examples", {PAUSE_AT_ENV: "ingest.between_files", PAUSE_MARKER_ENV: str(marker)}
    )
    deadline = time.monotonic() + PAUSE_TIMEOUT_S
    while not marker.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), "the run never reached ingest.between_files"
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
    output = run.communicate(timeout=120)[0]

    assert run.returncode != 0
    assert "Canceled run" in output and "its pool slots are free" in output
    listed = assert_no_run_in_progress()
    assert "CANCELED" in listed and "holds" not in listed
    assert sql("SELECT count(*) FROM examples")[0] != "0"  # the finished file is kept
    finish(start_materialize("examples"))
    assert_lake_whole(landed, versions=None)
