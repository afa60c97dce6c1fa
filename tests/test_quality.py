"""The quality gate over real Parquet-backed DuckDB views, judged by real Great Expectations."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quality import CHECK_NAMES, CHECK_SEVERITIES, CheckOutcome, gate_passes, run_quality_checks
from quality.gate import memory_capped
from quality.measures import BLANK_PATTERN
from quality.results import Severity
from tests.conftest import one_row
from warehouse.config import BayeslineConfig, parse_config
from warehouse.schema import (
    BATCH_DECISION_COLUMNS,
    INGESTED_FILE_COLUMNS,
    REJECTED_ROW_COLUMNS,
    example_columns,
)

TARGET = "app_reviews"
TRAINING = "web_reviews"
LABELS = ("negative", "positive")
ARROW_TYPES = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "TIMESTAMP": pa.timestamp("us")}
WHEN = datetime(2025, 1, 1, 12, 0)
LOCATION = ("example_id", "file_id", "line_number")


def make_config(**quality: Any) -> BayeslineConfig:
    return parse_config(
        {
            "dataset": {
                "name": "test-reviews",
                "id_column": "review_id",
                "label_column": "sentiment",
                "labels": list(LABELS),
                "text_columns": ["text"],
                "group_column": "user_id",
                "slice_columns": ["channel"],
            },
            "sources": {"target": [TARGET]},
            "splits": {
                "salt": "test",
                "target": {"train": 0.4, "dev": 0.3, "test": 0.3},
                "training": {"train": 0.9, "train_dev": 0.1},
            },
            "quality": {
                "max_batch_reject_rate": 0.2,
                "min_examples_per_split": 2,
                "max_label_drift": 0.25,
                **quality,
            },
        }
    )


CONFIG = make_config()


def example(n: int, source: str = TARGET, **overrides: Any) -> dict[str, Any]:
    row = {
        "example_id": f"ex-{n:03d}",
        "source": source,
        "distribution": "target" if source == TARGET else "training",
        "group_key": f"user-{n % 4}",
        "label": LABELS[n % 2],
        "text": f"review number {n}",
        "channel": "app",
        "content_hash": f"content-{n}",
        "dedup_key": f"dedup-{n}",
        "file_id": f"{source}-1",
        "line_number": n,
        "ingested_at": WHEN,
    }
    return {**row, **overrides}


def clean_examples() -> list[dict[str, Any]]:
    """Ten target examples in one file, six training examples in another."""
    return [example(n) for n in range(10)] + [example(n, TRAINING) for n in range(10, 16)]


def loaded_files(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One cleanly loaded ingested_files row per file_id the examples came from."""
    counts: dict[str, int] = {}
    sources: dict[str, dict[str, Any]] = {}
    for row in examples:
        counts[row["file_id"]] = counts.get(row["file_id"], 0) + 1
        sources[row["file_id"]] = row
    return [
        ingested_file(file_id, rows_read=n, rows_loaded=n, source=sources[file_id]["source"])
        for file_id, n in counts.items()
    ]


def ingested_file(file_id: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "file_id": file_id,
        "source": TARGET,
        "distribution": "target",
        "file_path": f"landing/{file_id}.csv",
        "content_sha256": f"sha-{file_id}",
        "size_bytes": 100,
        "status": "loaded",
        "rows_read": 10,
        "rows_loaded": 10,
        "rows_rejected": 0,
        "reason": None,
        "ingested_at": WHEN,
    }
    return {**row, **overrides}


def write_parquet(path: Path, rows: list[dict[str, Any]], columns: dict[str, str]) -> str:
    schema = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in columns.items()])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return str(path)


def warehouse(
    tmp_path: Path,
    examples: list[dict[str, Any]],
    files: list[dict[str, Any]] | None = None,
    examples_view: str = "SELECT * FROM read_parquet('{path}')",
    decisions: Sequence[dict[str, Any]] = (),
) -> duckdb.DuckDBPyConnection:
    """A real DuckDB connection with the four warehouse views the gate reads, over Parquet."""
    files = loaded_files(examples) if files is None else files
    paths = {
        "examples": write_parquet(
            tmp_path / "examples.parquet", examples, example_columns(CONFIG.dataset)
        ),
        "rejected": write_parquet(tmp_path / "rejected.parquet", [], REJECTED_ROW_COLUMNS),
        "files": write_parquet(tmp_path / "files.parquet", files, INGESTED_FILE_COLUMNS),
        "decisions": write_parquet(
            tmp_path / "decisions.parquet", list(decisions), BATCH_DECISION_COLUMNS
        ),
    }
    con = duckdb.connect()
    con.execute(f"CREATE VIEW examples AS {examples_view.format(path=paths['examples'])}")
    con.execute(f"CREATE VIEW rejected_rows AS SELECT * FROM read_parquet('{paths['rejected']}')")
    con.execute(f"CREATE VIEW ingested_files AS SELECT * FROM read_parquet('{paths['files']}')")
    con.execute(
        f"CREATE VIEW batch_decisions AS SELECT * FROM read_parquet('{paths['decisions']}')"
    )
    return con


def check(con: duckdb.DuckDBPyConnection, name: str, **kwargs: Any) -> CheckOutcome:
    config = kwargs.pop("config", CONFIG)
    (outcome,) = run_quality_checks(con, config, names=[name], **kwargs)
    assert outcome.name == name
    return outcome


def column_of(outcome: CheckOutcome, key: str) -> list[Any]:
    return [row.get(key) for row in outcome.failing_examples]


# --- the whole gate ---------------------------------------------------------------------------


def test_clean_warehouse_passes_every_check_in_order(tmp_path: Path) -> None:
    outcomes = run_quality_checks(warehouse(tmp_path, clean_examples()), CONFIG)

    assert [o.name for o in outcomes] == list(CHECK_NAMES)
    assert [o.name for o in outcomes if not o.passed] == []
    assert all(o.failing_examples == [] and o.remedy == "" for o in outcomes)
    assert gate_passes(outcomes)
    by_name = {o.name: o for o in outcomes}
    assert by_name["examples_have_unique_ids"].observed["rows_checked"] == 16
    assert by_name["examples_have_unique_ids"].description.endswith("checked 16 ids.")


def test_empty_warehouse_fails_the_batch_check_clearly_without_crashing(tmp_path: Path) -> None:
    outcomes = run_quality_checks(warehouse(tmp_path, [], files=[]), CONFIG)

    failed = {o.name: o for o in outcomes if not o.passed}
    assert list(failed) == ["batches_have_sane_row_counts"]
    outcome = failed["batches_have_sane_row_counts"]
    assert outcome.severity == "error"
    assert "no target examples" in outcome.description
    assert outcome.observed["target_examples"] == 0
    assert sorted(column_of(outcome, "split")) == ["dev", "test"]
    assert "min_examples_per_split" in outcome.remedy
    assert not gate_passes(outcomes)


def test_missing_views_fail_every_check_with_a_readable_reason() -> None:
    outcomes = run_quality_checks(duckdb.connect(), CONFIG)

    assert len(outcomes) == len(CHECK_NAMES)
    assert not any(o.passed for o in outcomes)
    assert all("Could not be checked" in o.description for o in outcomes)
    assert all(o.failing_examples[0]["error"] for o in outcomes)
    assert not gate_passes(outcomes)


def test_only_duplicates_across_sources_and_label_drift_are_warnings() -> None:
    assert list(CHECK_SEVERITIES) == list(CHECK_NAMES)
    assert {name for name, severity in CHECK_SEVERITIES.items() if severity == "warn"} == {
        "examples_have_no_cross_source_duplicates",
        "label_balance_is_stable_across_batches",
    }
    assert set(CHECK_SEVERITIES.values()) == {"error", "warn"}


def test_gate_is_blocked_only_by_failed_error_checks() -> None:
    def outcome(passed: bool, severity: Severity) -> CheckOutcome:
        return CheckOutcome("some_check", passed, severity, "", {}, [], "")

    assert gate_passes([])
    assert gate_passes([outcome(True, "error"), outcome(False, "warn")])
    assert not gate_passes([outcome(True, "warn"), outcome(False, "error")])


def test_unknown_check_names_and_empty_batches_are_refused(tmp_path: Path) -> None:
    con = warehouse(tmp_path, clean_examples())
    with pytest.raises(ValueError, match="examples_are_nice"):
        run_quality_checks(con, CONFIG, names=["examples_are_nice"])
    with pytest.raises(ValueError, match="batch_rows"):
        run_quality_checks(con, CONFIG, batch_rows=0)


def test_a_single_name_runs_only_that_check(tmp_path: Path) -> None:
    outcomes = run_quality_checks(
        warehouse(tmp_path, clean_examples()), CONFIG, names="examples_have_unique_ids"
    )
    assert [o.name for o in outcomes] == ["examples_have_unique_ids"]


# --- one check at a time ----------------------------------------------------------------------


def test_schema_check_names_missing_extra_and_mistyped_columns(tmp_path: Path) -> None:
    view = (
        "SELECT * EXCLUDE (channel) REPLACE (CAST(line_number AS VARCHAR) AS line_number), "
        "1 AS surprise FROM read_parquet('{path}')"
    )
    outcome = check(
        warehouse(tmp_path, clean_examples(), examples_view=view), "examples_match_schema"
    )

    assert not outcome.passed and outcome.severity == "error"
    mismatches = {
        row["column_name"]: (row["expected_type"], row["actual_type"])
        for row in outcome.failing_examples
        if "column_name" in row
    }
    assert mismatches == {
        "channel": ("VARCHAR", "(missing)"),
        "line_number": ("BIGINT", "VARCHAR"),
        "surprise": ("(not expected)", "INTEGER"),
    }
    assert outcome.observed["unexpected_by_rule"]["examples has exactly the expected columns"] == 1


def test_required_values_check_points_at_rows_with_missing_or_blank_values(
    tmp_path: Path,
) -> None:
    rows = clean_examples()
    rows[2]["label"] = None
    rows[4]["text"] = "   "
    rows[11]["distribution"] = "production"
    outcome = check(warehouse(tmp_path, rows), "examples_have_required_values")

    assert not outcome.passed
    found = {
        (row["rule"], row["example_id"], row["file_id"], row["line_number"])
        for row in outcome.failing_examples
    }
    assert found == {
        ("label is present", "ex-002", f"{TARGET}-1", 2),
        ("text is not blank", "ex-004", f"{TARGET}-1", 4),
        ("distribution is training or target", "ex-011", f"{TRAINING}-1", 11),
    }
    assert outcome.observed["unexpected_count"] == 3


def test_whitespace_only_values_are_blank_exactly_as_python_regex_sees_them(
    tmp_path: Path,
) -> None:
    rows = clean_examples()
    rows[1]["text"] = "\u00a0\t"  # no-break space and tab: blank to GE's Python `^\s*$`
    rows[2]["text"] = "\u3000"  # ideographic space
    rows[3]["text"] = "\u00a0not blank\u2003"
    rows[4]["text"] = ""
    outcome = check(warehouse(tmp_path, rows), "examples_have_required_values")

    assert not outcome.passed
    assert sorted(column_of(outcome, "example_id")) == ["ex-001", "ex-002", "ex-004"]
    assert outcome.observed["unexpected_by_rule"]["text is not blank"] == 3


def test_blank_pattern_matches_what_python_calls_whitespace_on_every_code_point() -> None:
    # GE's pandas engine applies `^\s*$` with Python's re; DuckDB's RE2 must agree everywhere.
    valid = "i < 55296 OR i > 57343"  # surrogates are not characters
    sql = f"""
        SELECT i FROM range(1114112) AS t(i)
        WHERE regexp_matches(CASE WHEN {valid} THEN chr(i::INTEGER) ELSE 'x' END, $pattern)
    """
    rows = duckdb.connect().execute(sql, {"pattern": BLANK_PATTERN}).fetchall()
    assert {i for (i,) in rows} == {i for i in range(0x110000) if chr(i).isspace()}


def test_a_null_value_counts_as_missing_but_not_also_as_blank(tmp_path: Path) -> None:
    rows = clean_examples()
    rows[2]["group_key"] = None
    outcome = check(warehouse(tmp_path, rows), "examples_have_required_values")

    by_rule = outcome.observed["unexpected_by_rule"]
    assert (by_rule["group_key is present"], by_rule["group_key is not blank"]) == (1, 0)
    assert outcome.observed["unexpected_count"] == 1
    assert [(r["rule"], r["example_id"]) for r in outcome.failing_examples] == [
        ("group_key is present", "ex-002")
    ]


def test_failing_examples_come_only_from_failing_rules_and_every_rule_shows(
    tmp_path: Path,
) -> None:
    rows = [example(n, text=" ") for n in range(25)]
    rows[7]["group_key"] = None
    outcome = check(warehouse(tmp_path, rows), "examples_have_required_values")

    assert outcome.observed["unexpected_by_rule"]["text is not blank"] == 25
    assert len(outcome.failing_examples) == 20
    assert {r["rule"] for r in outcome.failing_examples} == {
        "text is not blank",
        "group_key is present",
    }
    for row in outcome.failing_examples:
        column = row["rule"].split()[0]  # each shows its own column and where the row is
        assert set(row) == {"rule", column, *LOCATION}
        assert row[column] == {"text": " ", "group_key": None}[column]
    blank_lines = [r["line_number"] for r in outcome.failing_examples if "text" in r]
    assert blank_lines == sorted(blank_lines)  # listed in file order


def test_a_violation_in_one_of_many_files_is_found_and_counted_in_examples(
    tmp_path: Path,
) -> None:
    rows = [example(n, file_id=f"app-{n // 10}") for n in range(50)]
    rows[34]["source"] = "  "
    outcome = check(warehouse(tmp_path, rows), "examples_have_required_values", batch_rows=2)

    assert not outcome.passed
    assert outcome.observed["batches"] == 3  # five files, two summary rows per GE batch
    assert outcome.observed["rows_checked"] == 50
    assert outcome.observed["unexpected_count"] == 1
    rules = len(outcome.observed["unexpected_by_rule"])
    assert outcome.observed["unexpected_percent"] == round(100 / (50 * rules), 4)
    assert outcome.failing_examples == [
        {
            "rule": "source is not blank",
            "source": "  ",
            "example_id": "ex-034",
            "file_id": "app-3",
            "line_number": 34,
        }
    ]


def test_required_values_check_passes_clean_rows(tmp_path: Path) -> None:
    outcome = check(warehouse(tmp_path, clean_examples()), "examples_have_required_values")
    assert outcome.passed
    assert outcome.observed["rows_checked"] == 16


def test_label_check_lists_examples_whose_label_is_not_configured(tmp_path: Path) -> None:
    rows = clean_examples()
    rows[3]["label"] = "neutral"
    rows[12]["label"] = "Positive"
    outcome = check(warehouse(tmp_path, rows), "examples_labels_in_label_set")

    assert not outcome.passed and outcome.severity == "error"
    assert {(r["example_id"], r["label"]) for r in outcome.failing_examples} == {
        ("ex-003", "neutral"),
        ("ex-012", "Positive"),
    }
    assert "negative, positive" in outcome.description


def test_label_check_passes_configured_labels(tmp_path: Path) -> None:
    assert check(warehouse(tmp_path, clean_examples()), "examples_labels_in_label_set").passed


def test_unique_id_check_catches_duplicates_in_different_files_far_apart(tmp_path: Path) -> None:
    rows = clean_examples()
    # Each duplicate pair sits at opposite ends of the table, in different landing files, and
    # with 3-row batches neither fits one batch: both must still be caught.
    rows[0]["example_id"] = rows[15]["example_id"] = "aaa-dup"
    rows[1]["example_id"] = rows[14]["example_id"] = "zzz-dup"
    outcome = check(warehouse(tmp_path, rows), "examples_have_unique_ids", batch_rows=3)

    assert not outcome.passed and outcome.severity == "error"
    assert outcome.observed["rows_checked"] == 14  # distinct ids
    assert outcome.observed["unexpected_count"] == 2
    assert {(r["example_id"], r["occurrences"]) for r in outcome.failing_examples} == {
        ("aaa-dup", 2),
        ("zzz-dup", 2),
    }
    (first,) = [r for r in outcome.failing_examples if r["example_id"] == "aaa-dup"]
    assert first["locations"] == [
        {"file_id": f"{TARGET}-1", "line_number": 0},
        {"file_id": f"{TRAINING}-1", "line_number": 15},
    ]


def test_cross_source_duplicate_check_warns_with_the_sources_and_ids(tmp_path: Path) -> None:
    rows = clean_examples()
    rows[5]["dedup_key"] = rows[13]["dedup_key"] = "same-text"  # target and training
    rows[6]["dedup_key"] = rows[7]["dedup_key"] = "twice-in-target"  # one source: fine
    outcome = check(warehouse(tmp_path, rows), "examples_have_no_cross_source_duplicates")

    assert not outcome.passed and outcome.severity == "warn"
    assert outcome.failing_examples == [
        {
            "rule": "near-duplicate text comes from one source only",
            "source_count": 2,
            "dedup_key": "same-text",
            "sources": [TARGET, TRAINING],
            "examples": 2,
            "example_ids": ["ex-005", "ex-013"],
        }
    ]
    assert gate_passes([outcome])


def test_batch_check_fails_unreadable_empty_and_mostly_rejected_files(tmp_path: Path) -> None:
    rows = clean_examples()
    files = [
        *loaded_files(rows),
        ingested_file("broken", status="rejected", rows_read=0, rows_loaded=0, reason="not UTF-8"),
        ingested_file("empty", rows_read=0, rows_loaded=0),
        ingested_file("noisy", rows_read=10, rows_loaded=7, rows_rejected=3),
        ingested_file("fine", rows_read=10, rows_loaded=8, rows_rejected=2),
    ]
    outcome = check(warehouse(tmp_path, rows, files), "batches_have_sane_row_counts")

    assert not outcome.passed and outcome.severity == "error"
    by_file = {r["file_id"]: r for r in outcome.failing_examples}
    assert set(by_file) == {"broken", "empty", "noisy"}
    assert by_file["broken"]["rule"] == "file was readable (status loaded)"
    assert by_file["broken"]["reason"] == "not UTF-8"
    assert by_file["empty"]["rule"] == "loaded file has rows"
    assert by_file["noisy"]["reject_rate"] == pytest.approx(0.3)
    assert by_file["noisy"]["file_path"] == "landing/noisy.csv"
    assert outcome.observed["max_batch_reject_rate"] == 0.2


BATCH_CHECK = "batches_have_sane_row_counts"


def decision(file_id: str, kind: str, minutes: int = 0) -> dict[str, Any]:
    return {
        "file_id": file_id,
        "source": TARGET,
        "file_path": f"landing/{file_id}.csv",
        "decision": kind,
        "reason": f"{kind} {file_id}",
        "decided_by": "tester",
        "decided_at": datetime(2025, 1, 2, 9, minutes),
    }


def test_batch_check_names_the_blocking_batches_and_the_two_ways_out(tmp_path: Path) -> None:
    rows = clean_examples()
    files = [
        *loaded_files(rows),
        ingested_file("broken", status="rejected", rows_read=0, rows_loaded=0, reason="not UTF-8"),
        ingested_file("noisy", rows_read=10, rows_loaded=7, rows_rejected=3),
    ]
    outcome = check(warehouse(tmp_path, rows, files), "batches_have_sane_row_counts")

    assert outcome.observed["blocking_batches"] == ["landing/broken.csv", "landing/noisy.csv"]
    assert outcome.observed["decided_batches"] == 0
    assert "2 batch(es) block publishing until someone decides" in outcome.description
    assert "landing/broken.csv, landing/noisy.csv" in outcome.description
    for command in ("bayesline batches exclude FILE", "bayesline batches accept FILE"):
        assert command in outcome.description and command in outcome.remedy


def test_a_long_list_of_blocking_batches_says_it_is_not_all_of_them(tmp_path: Path) -> None:
    rows = clean_examples()
    broken = [
        ingested_file(f"broken-{i:02d}", status="rejected", rows_read=0, rows_loaded=0)
        for i in range(25)
    ]
    outcome = check(warehouse(tmp_path, rows, [*loaded_files(rows), *broken]), BATCH_CHECK)

    listed = outcome.observed["blocking_batches"]
    assert listed == [f"landing/broken-{i:02d}.csv" for i in range(20)]
    assert "more than 20 batch(es) block publishing" in outcome.description


def test_batches_someone_decided_about_no_longer_block(tmp_path: Path) -> None:
    rows = clean_examples()
    files = [
        *loaded_files(rows),
        ingested_file("broken", status="rejected", rows_read=0, rows_loaded=0, reason="not UTF-8"),
        ingested_file("noisy", rows_read=10, rows_loaded=7, rows_rejected=3),
        ingested_file("empty", rows_read=0, rows_loaded=0),
    ]
    decided = [decision("broken", "exclude"), decision("noisy", "accept")]
    outcome = check(
        warehouse(tmp_path, rows, files, decisions=decided), "batches_have_sane_row_counts"
    )

    assert not outcome.passed  # nobody decided about "empty" yet
    assert outcome.observed["blocking_batches"] == ["landing/empty.csv"]
    assert outcome.observed["decided_batches"] == 2
    decided.append(decision("empty", "exclude"))
    passed = check(
        warehouse(tmp_path, rows, files, decisions=decided), "batches_have_sane_row_counts"
    )
    assert passed.passed and passed.observed["blocking_batches"] == []
    assert passed.observed["rows_checked"] == 2 + 2  # the two clean files, plus dev and test


def test_excluded_batches_do_not_count_towards_dev_and_test(tmp_path: Path) -> None:
    rows = clean_examples()  # 10 target examples in file app_reviews-1: 3 each for dev and test
    files = loaded_files(rows)
    config = make_config(min_examples_per_split=3)
    assert check(warehouse(tmp_path, rows, files), "batches_have_sane_row_counts", config=config)
    # Excluded, then accepted again: the newest decision is in force.
    excluded = [decision("app_reviews-1", "exclude")]
    outcome = check(
        warehouse(tmp_path, rows, files, decisions=excluded),
        "batches_have_sane_row_counts",
        config=config,
    )
    assert not outcome.passed and outcome.observed["target_examples"] == 0
    readmitted = [*excluded, decision("app_reviews-1", "accept", minutes=5)]
    outcome = check(
        warehouse(tmp_path, rows, files, decisions=readmitted),
        "batches_have_sane_row_counts",
        config=config,
    )
    assert outcome.passed and outcome.observed["target_examples"] == 10


def test_batch_check_fails_when_target_is_too_small_for_dev_and_test(tmp_path: Path) -> None:
    rows = clean_examples()  # 10 target examples: 3 each for dev and test at 0.3
    con = warehouse(tmp_path, rows)
    assert check(con, "batches_have_sane_row_counts", config=make_config()).passed

    outcome = check(
        con, "batches_have_sane_row_counts", config=make_config(min_examples_per_split=4)
    )
    assert not outcome.passed
    assert {
        (r["split"], r["target_examples"], r["expected_examples"]) for r in outcome.failing_examples
    } == {("dev", 10, 3.0), ("test", 10, 3.0)}


def drifting_batches(second_batch_positive: int) -> list[dict[str, Any]]:
    """Two 40-row target batches (the first half positive) and a tiny, lopsided third one."""
    rows = [
        example(n, file_id="batch-a", label="positive" if n < 20 else "negative") for n in range(40)
    ]
    rows += [
        example(
            n, file_id="batch-b", label="positive" if n < 40 + second_batch_positive else "negative"
        )
        for n in range(40, 80)
    ]
    rows += [example(n, file_id="batch-tiny", label="positive") for n in range(80, 90)]
    return rows


def test_label_drift_check_flags_batches_whose_label_mix_shifted(tmp_path: Path) -> None:
    outcome = check(
        warehouse(tmp_path, drifting_batches(second_batch_positive=36)),
        "label_balance_is_stable_across_batches",
    )

    assert not outcome.passed and outcome.severity == "warn"
    flagged = {(r["file_id"], r["label"]) for r in outcome.failing_examples}
    assert flagged == {(f, label) for f in ("batch-a", "batch-b") for label in LABELS}
    (row,) = [
        r for r in outcome.failing_examples if (r["file_id"], r["label"]) == ("batch-b", "positive")
    ]
    # batch-b is 36/40 positive; the other target batches hold 30/50 positive
    assert row["batch_proportion"] == pytest.approx(0.9)
    assert row["other_batches_proportion"] == pytest.approx(0.6)
    assert row["drift"] == pytest.approx(0.3)
    assert row["batch_rows"] == 40


def test_label_drift_check_ignores_small_batches_and_passes_a_steady_mix(
    tmp_path: Path,
) -> None:
    outcome = check(
        warehouse(tmp_path, drifting_batches(second_batch_positive=24)),
        "label_balance_is_stable_across_batches",
    )
    assert outcome.passed, outcome.failing_examples
    assert outcome.observed["rows_checked"] == 4  # 2 batches of 30+ rows x 2 labels


# --- merging across batches -------------------------------------------------------------------


def dirty_examples() -> list[dict[str, Any]]:
    rows = clean_examples()
    rows[0]["example_id"] = rows[15]["example_id"] = "dup"
    rows[3]["label"] = "neutral"
    rows[4]["text"] = ""
    rows[5]["dedup_key"] = rows[13]["dedup_key"] = "same-text"
    return rows


def summary(outcomes: list[CheckOutcome]) -> list[tuple[Any, ...]]:
    return [
        (
            o.name,
            o.passed,
            o.observed["unexpected_count"],
            sorted(json.dumps(r, sort_keys=True) for r in o.failing_examples),
        )
        for o in outcomes
    ]


def test_verdicts_do_not_depend_on_the_batch_size(tmp_path: Path) -> None:
    con = warehouse(tmp_path, dirty_examples())
    whole = run_quality_checks(con, CONFIG)
    in_pieces = run_quality_checks(con, CONFIG, batch_rows=1)

    assert summary(in_pieces) == summary(whole)
    assert [o.name for o in whole if not o.passed] == [
        "examples_have_required_values",
        "examples_labels_in_label_set",
        "examples_have_unique_ids",
        "examples_have_no_cross_source_duplicates",
    ]
    # GE sees one summary row per ingested file (two here), so batch_rows bounds those.
    assert in_pieces[1].observed["batches"] == 2 and whole[1].observed["batches"] == 1
    assert in_pieces[1].observed["rows_checked"] == whole[1].observed["rows_checked"] == 16


def test_failing_examples_are_capped_at_twenty_and_json_serialisable(tmp_path: Path) -> None:
    rows = [example(n, label="maybe") for n in range(30)]
    outcome = check(warehouse(tmp_path, rows), "examples_labels_in_label_set", batch_rows=7)

    assert outcome.observed["unexpected_count"] == 30
    assert outcome.observed["unexpected_percent"] == 100.0
    assert len(outcome.failing_examples) == 20
    assert json.loads(json.dumps(outcome.to_dict()))["failing_examples"][0]["label"] == "maybe"


def test_the_gate_caps_duckdb_memory_only_while_it_runs_and_never_raises_it(
    tmp_path: Path,
) -> None:
    con = warehouse(tmp_path, clean_examples())

    def limit() -> str:
        return one_row(con.execute("SELECT current_setting('memory_limit')"))[0]

    con.execute("SET memory_limit = '8GiB'")
    with memory_capped(con, 2**30):
        assert limit() == "1.0 GiB"
    assert limit() == "8.0 GiB"
    assert gate_passes(run_quality_checks(con, CONFIG))
    assert limit() == "8.0 GiB"
    con.execute("SET memory_limit = '100MiB'")
    with memory_capped(con, 2**30):
        assert limit() == "100.0 MiB"


def test_the_gate_runs_on_a_connection_already_under_its_cap(tmp_path: Path) -> None:
    # The usual case once BAYESLINE_MEMORY_LIMIT is set: readers and the gate share that cap,
    # so the gate leaves the limit alone, and its checks still run, even after the caller
    # left a result unfinished on the connection.
    con = warehouse(tmp_path, clean_examples())
    con.execute("SET memory_limit = '512MiB'")
    con.execute("SELECT * FROM range(3)").fetchone()
    outcomes = run_quality_checks(con, CONFIG)
    assert [o.observed for o in outcomes if not o.passed] == []


def test_importing_quality_loads_neither_great_expectations_nor_dagster() -> None:
    code = (
        "import sys, quality; "
        "loaded = {'great_expectations', 'dagster'} & set(sys.modules); "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_the_gate_follows_the_warehouse_memory_cap_when_one_is_set(monkeypatch) -> None:
    from quality.gate import GATE_MEMORY_LIMIT_BYTES, gate_memory_limit_bytes

    monkeypatch.delenv("BAYESLINE_MEMORY_LIMIT", raising=False)
    assert gate_memory_limit_bytes() == GATE_MEMORY_LIMIT_BYTES
    monkeypatch.setenv("BAYESLINE_MEMORY_LIMIT", "4GiB")
    assert gate_memory_limit_bytes() == 4 * 2**30


def test_the_gate_runs_under_the_configured_memory_cap(monkeypatch, small_config) -> None:
    from dataclasses import replace

    import quality.gate as gate

    monkeypatch.delenv("BAYESLINE_MEMORY_LIMIT", raising=False)
    config = replace(small_config, quality=replace(small_config.quality, gate_memory_limit_mb=256))
    seen: list[str] = []
    with duckdb.connect() as con:
        con.execute("SET memory_limit = '4GiB'")
        ((before,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()

        def run_check_noting_the_cap(check, run):
            seen.append(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
            return real_run_check(check, run)

        real_run_check = gate.run_check
        monkeypatch.setattr(gate, "run_check", run_check_noting_the_cap)
        gate.run_quality_checks(con, config, names=[gate.CHECK_NAMES[0]])
        ((after,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
        con.execute("SET memory_limit = '256MiB'")
        ((expected,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
    assert seen == [expected] and after == before
