"""A bad batch blocks publishing until a person decides: through the CLI, Dagster and SQL."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from assets.definitions import defs
from bayesline.cli import app
from bayesline.runner import ensure_dagster_home
from tests.conftest import write_csv
from tests.review_files import REVIEW_HEADER
from warehouse.batch_decisions import BatchDecisionError, record_batch_decision
from warehouse.catalog import open_reader
from warehouse.config import load_config, parse_config
from warehouse.ingest import ingest_landing_files
from warehouse.splits import publish_split_version, published_versions, version_path
from warehouse.versions import load_manifest

runner = CliRunner()
GATE = "key:examples or key:published_splits"
WORDS = ("kettle", "lamp", "bike", "novel", "printer", "tent", "drill", "scarf", "piano", "mug")


def reviews(prefix: str, n: int, bad: int = 0) -> list[tuple]:
    """`n` well-formed rows with unique ids, users and wording; the last `bad` get the label
    'meh', which the bundled config does not know (so ingestion quarantines them)."""
    rows = []
    for i in range(n):
        label = "meh" if i >= n - bad else ("positive" if i % 3 else "negative")
        text = f"{prefix} {WORDS[i % 10]} {WORDS[(i // 10) % 10]} number {i} was fine"
        rows.append((f"{prefix}-{i}", f"{prefix}-user-{i}", label, text, "web", "home"))
    return [(*r, "short", "en") for r in rows]


def bayesline(*args: str):
    return runner.invoke(app, list(args))


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def truncated_parquet(path: Path) -> Path:
    """A real Parquet file cut in half, as an interrupted copy leaves it."""
    buffer = io.BytesIO()
    pq.write_table(pa.table({"review_id": ["a", "b"], "text": ["x", "y"]}), buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def latest_run_check(name: str) -> dict:
    """The metadata of the newest evaluation of check `name`, as Dagster recorded it."""
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
        entries = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    events = [e.dagster_event for e in entries]
    evaluations = [e.asset_check_evaluation_data for e in events if e is not None]
    (data,) = [evaluation for evaluation in evaluations if evaluation.check_name == name]
    return {"passed": data.passed, **{k: v.value for k, v in data.metadata.items()}}


def decide_in_dagster(file: str, decision: str, reason: str, by: str) -> bool:
    """What a person does on the Launchpad of the bayesline_batch_decision job."""
    job = defs.resolve_job_def("bayesline_batch_decision")
    config = {"file": file, "decision": decision, "reason": reason, "decided_by": by}
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            run_config={"ops": {"decide_about_batch": {"config": config}}}, instance=instance
        )
    return result.success


@pytest.mark.slow
def test_a_bad_batch_blocks_until_excluded_or_accepted_and_the_decisions_are_kept(layout):
    ensure_dagster_home(layout)
    landing = layout.landing
    write_csv(landing / "app_reviews" / "day1.csv", reviews("app1", 100), header=REVIEW_HEADER)
    write_csv(landing / "web_reviews" / "day1.csv", reviews("web1", 100), header=REVIEW_HEADER)
    assert bayesline("materialize", "--select", GATE).exit_code == 0
    assert published_versions(layout) == [1]

    # Day 2: clean new target data, and three bad batches beside it.
    write_csv(landing / "app_reviews" / "day2.csv", reviews("app2", 30), header=REVIEW_HEADER)
    write_csv(landing / "web_reviews" / "mostly_bad.csv", reviews("bad", 10, bad=6), REVIEW_HEADER)
    (landing / "web_reviews" / "notes.docx").write_bytes(b"PK\x03\x04 a Word file, not data")
    truncated_parquet(landing / "partner_feed" / "export.parquet")
    blocked = bayesline("materialize", "--select", GATE)
    assert blocked.exit_code == 1 and published_versions(layout) == [1]
    error = one_line(blocked.stderr)
    blocking = [
        "web_reviews/mostly_bad.csv",
        "web_reviews/notes.docx",
        "partner_feed/export.parquet",
    ]
    assert error.startswith("error: check batches_have_sane_row_counts failed")
    assert all(name in error for name in blocking)
    assert "bayesline batches exclude FILE" in error and "bayesline batches accept FILE" in error
    assert "Traceback" not in blocked.stdout + blocked.stderr
    recorded = latest_run_check("batches_have_sane_row_counts")
    assert recorded["passed"] is False
    assert sorted(recorded["observed"]["blocking_batches"]) == sorted(blocking)
    assert sorted(recorded["blocking_batches"]) == sorted(blocking)
    assert "bayesline batches exclude FILE" in recorded["what_to_do"]

    listed = bayesline("batches", "list")
    assert listed.exit_code == 0
    states = dict(re.findall(r"^(\w+/[\w.]+) (\w+): ", listed.stdout, flags=re.MULTILINE))
    assert states == dict.fromkeys(blocking, "blocking")  # the clean batches are not listed
    assert "reject rate 0.6 is above max_batch_reject_rate 0.2" in listed.stdout

    # Three ways to name a batch: its name, its path under landing/, its path on disk.
    assert bayesline("batches", "exclude", "notes.docx", "-r", "a Word file").exit_code == 0
    bad_path = str(landing / "web_reviews" / "mostly_bad.csv")
    excluded = bayesline("batches", "exclude", bad_path, "--reason", "labels from a test tool")
    assert excluded.exit_code == 0 and "mostly_bad.csv" in excluded.stdout
    assert decide_in_dagster("partner_feed/export.parquet", "exclude", "cut off", "dana")
    published = bayesline("materialize", "--select", GATE)
    assert published.exit_code == 0, published.stderr
    assert published_versions(layout) == [1, 2]
    manifest = load_manifest(layout, 2)
    assert manifest["changes_vs_parent"]["added"] == 30  # day 2's clean target rows only
    excluded_batches = {
        b["file_path"].split("landing/")[1]: b for b in manifest["batch_decisions"]["excluded"]
    }
    assert sorted(excluded_batches) == sorted(blocking)
    assert excluded_batches["partner_feed/export.parquet"]["decided_by"] == "dana"
    assert excluded_batches["web_reviews/mostly_bad.csv"]["reason"] == "labels from a test tool"

    # A noisy batch whose good rows are wanted: accepted, they go into the next version.
    write_csv(
        landing / "web_reviews" / "noisy.csv", reviews("noisy", 10, bad=3), header=REVIEW_HEADER
    )
    again = bayesline("materialize", "--select", GATE)
    assert again.exit_code == 1 and published_versions(layout) == [1, 2]
    error = one_line(again.stderr)
    assert "web_reviews/noisy.csv" in error and "notes.docx" not in error
    accepted = bayesline("batches", "accept", "noisy.csv", "-r", "7 good rows", "--by", "alice")
    assert accepted.exit_code == 0
    assert bayesline("materialize", "--select", GATE).exit_code == 0
    assert published_versions(layout) == [1, 2, 3]
    assert load_manifest(layout, 3)["changes_vs_parent"]["added"] == 7
    (accepted_batch,) = load_manifest(layout, 3)["batch_decisions"]["accepted"]
    assert accepted_batch["decided_by"] == "alice" and accepted_batch["reason"] == "7 good rows"

    with open_reader(layout, load_config()) as con:
        in_v3 = dict(
            con.execute(
                "SELECT split(b.file_path, '/')[-1], count(s.example_id) FROM batches AS b "
                "LEFT JOIN splits AS s ON s.file_id = b.file_id AND s.version = 3 "
                "GROUP BY ALL"
            ).fetchall()
        )
        kept = con.execute(
            "SELECT count(*), count(*) FILTER (is_current) FROM example_revisions "
            "WHERE example_id LIKE 'bad-%'"
        ).fetchone()
        in_force = con.execute(
            "SELECT count(*) FROM examples WHERE example_id LIKE 'bad-%'"
        ).fetchone()[0]
    assert in_v3 == {
        "day1.csv": 200,
        "day2.csv": 30,
        "mostly_bad.csv": 0,
        "notes.docx": 0,
        "export.parquet": 0,
        "noisy.csv": 7,
    }
    # The excluded batch's good rows are kept (nothing is deleted) but are not in force.
    assert kept == (4, 0) and in_force == 0
    as_json = bayesline(
        "sql",
        "SELECT decision, reason, decided_by FROM batch_decisions ORDER BY decided_at",
        "-f",
        "json",
    )
    decisions = [(d["decision"], d["reason"]) for d in json.loads(as_json.stdout)]
    assert decisions == [
        ("exclude", "a Word file"),
        ("exclude", "labels from a test tool"),
        ("exclude", "cut off"),
        ("accept", "7 good rows"),
    ]

    # Upstream fixes the bad labels and sends the whole batch again: its 4 rows that were
    # already good repeat rows of the excluded batch, and must count as new, not as present.
    fixed = reviews("bad", 10)
    write_csv(landing / "web_reviews" / "mostly_bad_fixed.csv", fixed, header=REVIEW_HEADER)
    assert bayesline("materialize", "--select", GATE).exit_code == 0
    assert published_versions(layout) == [1, 2, 3, 4]
    assert load_manifest(layout, 4)["changes_vs_parent"]["added"] == 10
    with open_reader(layout, load_config()) as con:
        resent = con.execute(
            "SELECT count(*), count(DISTINCT example_id) FROM examples "
            "WHERE example_id LIKE 'bad-%'"
        ).fetchone()
        current_revisions = con.execute(
            "SELECT count(*) FROM example_revisions WHERE is_current AND example_id LIKE 'bad-%'"
        ).fetchone()[0]
    assert resent == (10, 10) and current_revisions == 10


def test_the_newest_decision_is_in_force_and_the_same_one_twice_records_nothing(layout):
    config = parse_config(
        {
            "dataset": {
                "name": "decisions",
                "id_column": "review_id",
                "label_column": "sentiment",
                "labels": ["negative", "positive"],
                "text_columns": ["text"],
            },
            "sources": {"target": ["app"]},
            "splits": {
                "salt": "s",
                "target": {"train": 0.4, "dev": 0.3, "test": 0.3},
                "training": {"train": 0.8, "train_dev": 0.2},
            },
        }
    )
    header = ["review_id", "sentiment", "text"]
    write_csv(
        layout.landing / "app" / "a.csv",
        [(f"a{i}", "positive", f"a {i}") for i in range(20)],
        header,
    )
    write_csv(
        layout.landing / "web" / "a.csv",
        [(f"w{i}", "negative", f"w {i}") for i in range(5)],
        header,
    )
    ingest_landing_files(layout, config)

    with pytest.raises(BatchDecisionError, match=r"'a.csv' names 2 batches: .*Give the file id"):
        record_batch_decision(layout, "a.csv", "exclude", "why")
    with pytest.raises(BatchDecisionError, match=r"no ingested batch matches 'b\.csv'"):
        record_batch_decision(layout, "b.csv", "exclude", "why")
    with pytest.raises(BatchDecisionError, match="say why"):
        record_batch_decision(layout, "web/a.csv", "exclude", "  ")
    with pytest.raises(BatchDecisionError, match="use exclude or accept"):
        record_batch_decision(layout, "web/a.csv", "ignore", "why")

    first = record_batch_decision(layout, "web/a.csv", "exclude", "wrong source", decided_by="kim")
    assert first.recorded and first.name == "web/a.csv"
    assert not record_batch_decision(layout, first.file_id, "exclude", "wrong source").recorded
    v1 = publish_split_version(layout, config)
    assert sum(v1.split_counts.values()) == 20
    record_batch_decision(layout, first.file_id, "accept", "it was fine after all")
    v2 = publish_split_version(layout, config)
    assert v2.created and v2.n_added == 5 and sum(v2.split_counts.values()) == 25
    manifest = load_manifest(layout, 2)["batch_decisions"]
    assert manifest["excluded"] == [] and manifest["accepted"][0]["file_id"] == first.file_id
    with open_reader(layout, config) as con:
        history = con.execute(
            "SELECT decision, decided_by IS NOT NULL FROM batch_decisions ORDER BY decided_at"
        ).fetchall()
        (state,) = con.execute(
            "SELECT state FROM batches WHERE file_id = ?", [first.file_id]
        ).fetchone()
    assert history == [("exclude", True), ("accept", True)] and state == "accepted"


def test_excluding_a_batch_of_updates_publishes_the_revisions_before_it(layout, small_config):
    rows = [(f"a{i}", f"u{i}", "pos", f"app review {i}", "ios") for i in range(20)]
    write_csv(layout.landing / "app" / "day1.csv", rows)
    ingest_landing_files(layout, small_config)
    # Day two relabels the first five upstream, by mistake.
    relabelled = [(i, u, "neg", t, d) for i, u, _, t, d in rows[:5]] + rows[5:]
    write_csv(layout.landing / "app" / "day2.csv", relabelled)
    (day2,) = ingest_landing_files(layout, small_config).new_files
    assert (day2.rows_updated, day2.rows_already_present) == (5, 15)

    record_batch_decision(layout, "app/day2.csv", "exclude", "relabelled by a broken export")
    v1 = publish_split_version(layout, small_config)
    assert sum(v1.split_counts.values()) == 20
    files = version_path(layout, 1) / "*.parquet"
    labels = dict(duckdb.sql(f"SELECT example_id, label FROM read_parquet('{files}')").fetchall())
    assert len(labels) == 20
    assert {labels[f"a{i}"] for i in range(5)} == {"pos"}
