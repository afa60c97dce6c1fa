"""Re-delivered rows: cumulative exports and corrections upstream, through the library.

The week-long run through Dagster is in test_cumulative_exports.py.
"""

import dataclasses

import duckdb
import pytest

from quality import run_quality_checks
from tests.conftest import SMALL_CONFIG, write_csv
from warehouse.catalog import open_reader
from warehouse.config import ConfigError, parse_config
from warehouse.ingest import ingest_landing_files
from warehouse.splits import publish_split_version

DAY_ONE = [
    ("w1", "u1", "pos", "great phone", "web"),
    ("w2", "u1", "neg", "broke in a day", "web"),
    ("w3", "u2", "pos", "works, as promised", "web"),
]


def with_target_rows(layout, config):
    """A target source's file, so the gate's dev/test capacity rule has something to count."""
    rows = [(f"a{i}", f"t{i}", "pos", f"app review {i}", "ios") for i in range(12)]
    deliver(layout, config, "app.csv", rows, source="app")


def deliver(layout, config, name, rows, source="web"):
    write_csv(layout.landing / source / name, rows)
    (result,) = ingest_landing_files(layout, config).new_files
    return result


def query(layout, config, sql):
    with open_reader(layout, config) as con:
        return con.execute(sql).fetchall()


def test_a_cumulative_export_loads_only_its_new_rows_and_counts_the_rest(layout, small_config):
    deliver(layout, small_config, "day1.csv", DAY_ONE)
    new = [("w4", "u3", "neg", "too loud", "web"), ("w5", "u3", "pos", "lovely screen", "web")]
    result = deliver(layout, small_config, "day2.csv", DAY_ONE + new)
    assert (result.rows_read, result.rows_loaded, result.rows_already_present) == (5, 2, 3)
    assert (result.rows_rejected, result.rows_updated) == (0, 0)
    assert query(layout, small_config, "SELECT count(*) FROM rejected_rows") == [(0,)]
    assert query(layout, small_config, "SELECT example_id FROM examples ORDER BY 1") == [
        ("w1",),
        ("w2",),
        ("w3",),
        ("w4",),
        ("w5",),
    ]
    recorded = query(
        layout,
        small_config,
        "SELECT rows_read, rows_loaded, rows_already_present, rows_updated, rows_rejected "
        "FROM ingested_files ORDER BY ingested_at",
    )
    assert recorded == [(3, 3, 0, 0, 0), (5, 2, 3, 0, 0)]


def test_rows_already_present_are_not_part_of_the_reject_rate(layout, small_config):
    with_target_rows(layout, small_config)
    deliver(layout, small_config, "day1.csv", DAY_ONE)
    # 3 old rows, 4 new of which 1 is bad: 1 in 4 new rows (25 %) is over the 20 % limit,
    # though 1 in 7 rows read (14 %) would not be.
    new = [(f"w{i}", "u3", "neg", f"review {i}", "web") for i in range(4, 7)]
    result = deliver(
        layout, small_config, "day2.csv", [*DAY_ONE, *new, ("w9", "u3", "meh", "x", "web")]
    )
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (7, 3, 1)
    with open_reader(layout, small_config) as con:
        (outcome,) = run_quality_checks(con, small_config, names=["batches_have_sane_row_counts"])
    assert not outcome.passed
    failing = {f["file_id"]: f["reject_rate"] for f in outcome.failing_examples}
    assert failing == {result.file_id: 0.25}


def test_an_export_repeating_old_rows_with_a_few_bad_new_ones_passes_the_gate(layout, small_config):
    with_target_rows(layout, small_config)
    deliver(layout, small_config, "day1.csv", DAY_ONE)
    new = [(f"w{i}", "u3", "neg", f"review {i}", "web") for i in range(4, 13)]
    deliver(layout, small_config, "day2.csv", [*DAY_ONE, *new, ("w99", "u3", "meh", "x", "web")])
    with open_reader(layout, small_config) as con:
        (outcome,) = run_quality_checks(con, small_config, names=["batches_have_sane_row_counts"])
    assert outcome.passed, outcome.failing_examples  # 1 bad in 10 new rows: 10 %


def test_an_export_with_nothing_new_passes_the_gate_and_the_batches_view(layout, small_config):
    with_target_rows(layout, small_config)
    deliver(layout, small_config, "day1.csv", DAY_ONE)
    # The same rows in another order: another file, but nothing new to load.
    result = deliver(layout, small_config, "day2.csv", list(reversed(DAY_ONE)))
    assert (result.rows_loaded, result.rows_already_present, result.rows_rejected) == (0, 3, 0)
    with open_reader(layout, small_config) as con:
        (outcome,) = run_quality_checks(con, small_config, names=["batches_have_sane_row_counts"])
    assert outcome.passed, outcome.failing_examples
    problems = query(
        layout, small_config, f"SELECT problem FROM batches WHERE file_id = '{result.file_id}'"
    )
    assert problems == [(None,)]


def test_a_changed_row_is_an_update_the_old_revision_kept_and_the_split_sticky(
    layout, small_config
):
    deliver(layout, small_config, "day1.csv", DAY_ONE)
    first = publish_split_version(layout, small_config)
    fixed = [("w1", "u1", "neg", "great phone", "web"), *DAY_ONE[1:]]  # label fixed upstream
    day2 = deliver(layout, small_config, "day2.csv", fixed)
    assert (day2.rows_loaded, day2.rows_updated, day2.rows_already_present) == (1, 1, 2)
    assert query(layout, small_config, "SELECT label FROM examples WHERE example_id = 'w1'") == [
        ("neg",)
    ]
    second = publish_split_version(layout, small_config)
    assert (second.version, second.n_added, second.n_changed, second.n_removed) == (2, 0, 1, 0)
    splits = query(
        layout,
        small_config,
        "SELECT version, split, label FROM splits WHERE example_id = 'w1' ORDER BY version",
    )
    assert [s for _, s, _ in splits] == [splits[0][1]] * 2 and [lab for *_, lab in splits] == [
        "pos",
        "neg",
    ]
    assert first.version == 1


def test_every_revision_is_kept_in_order_and_the_newest_is_the_example(layout, small_config):
    texts = ["great phone", "great phone!", "great phone, fixed"]
    files = []
    for day, text in enumerate(texts, 1):
        rows = [("w1", "u1", "pos", text, "web"), *DAY_ONE[1:]]
        files.append(deliver(layout, small_config, f"day{day}.csv", rows).file_id)
    history = query(
        layout,
        small_config,
        "SELECT revision, is_current, text, file_id, previous_file_id, replaced_by_file_id "
        "FROM example_revisions WHERE example_id = 'w1' ORDER BY revision",
    )
    assert history == [
        (1, False, texts[0], files[0], None, files[1]),
        (2, False, texts[1], files[1], files[0], files[2]),
        (3, True, texts[2], files[2], files[1], None),
    ]
    assert query(layout, small_config, "SELECT text FROM examples WHERE example_id = 'w1'") == [
        (texts[2],)
    ]
    assert query(layout, small_config, "SELECT count(*) FROM example_revisions") == [(5,)]
    with open_reader(layout, small_config) as con:
        (unique,) = run_quality_checks(con, small_config, names=["examples_have_unique_ids"])
    assert unique.passed


def test_quarantine_mode_rejects_each_change_for_review(layout):
    config = parse_config({**SMALL_CONFIG, "dataset": {**SMALL_CONFIG["dataset"]}})
    config = dataclasses.replace(
        config, dataset=dataclasses.replace(config.dataset, on_changed_row="quarantine")
    )
    deliver(layout, config, "day1.csv", DAY_ONE)
    changed = [("w1", "u1", "neg", "great phone", "web"), *DAY_ONE[1:]]
    result = deliver(layout, config, "day2.csv", [*changed, ("w4", "u3", "neg", "meh", "web")])
    assert (result.rows_loaded, result.rows_rejected, result.rows_already_present) == (1, 1, 2)
    ((line, kind, reason),) = query(
        layout, config, "SELECT line_number, error_type, reason FROM rejected_rows"
    )
    assert (line, kind) == (2, "changed_row")
    assert 'on_changed_row = "quarantine"' in reason and "line 2" in reason
    assert query(layout, config, "SELECT label FROM examples WHERE example_id = 'w1'") == [("pos",)]


def test_two_rows_for_one_id_in_one_file_stay_a_conflict(layout, small_config):
    deliver(layout, small_config, "day1.csv", DAY_ONE)
    rows = [*DAY_ONE, ("w1", "u1", "neg", "great phone", "web")]  # line 2 unchanged, 5 changed
    result = deliver(layout, small_config, "day2.csv", rows)
    assert (result.rows_loaded, result.rows_rejected, result.rows_already_present) == (0, 2, 2)
    kinds = query(layout, small_config, "SELECT line_number, error_type FROM rejected_rows")
    assert sorted(kinds) == [(2, "conflicting_duplicate"), (5, "conflicting_duplicate")]
    assert query(layout, small_config, "SELECT label FROM examples WHERE example_id = 'w1'") == [
        ("pos",)
    ]


def test_an_update_whose_commit_record_was_lost_is_repaired_without_a_duplicate(
    layout, small_config
):
    deliver(layout, small_config, "day1.csv", DAY_ONE)
    fixed = [("w1", "u1", "neg", "great phone", "web"), *DAY_ONE[1:]]
    result = deliver(layout, small_config, "day2.csv", fixed)
    (layout.ingested_files_dir / f"{result.file_id}.parquet").unlink()  # crash before commit
    (again,) = ingest_landing_files(layout, small_config).new_files
    assert (again.rows_loaded, again.rows_updated, again.rows_already_present) == (1, 1, 2)
    assert query(
        layout, small_config, "SELECT count(*), count(DISTINCT example_id) FROM examples"
    ) == [(3, 3)]
    assert query(layout, small_config, "SELECT count(*) FROM example_revisions") == [(4,)]


def test_a_lake_written_before_revisions_existed_still_reads(layout, small_config):
    deliver(layout, small_config, "day1.csv", DAY_ONE)
    for table in (layout.examples_dir, layout.ingested_files_dir):
        (path,) = table.glob("*.parquet")
        duckdb.execute(
            f"COPY (SELECT * EXCLUDE (previous_file_id) FROM read_parquet('{path}')) "
            f"TO '{path}.old' (FORMAT parquet)"
            if table == layout.examples_dir
            else f"COPY (SELECT * EXCLUDE (rows_already_present, rows_updated) "
            f"FROM read_parquet('{path}')) TO '{path}.old' (FORMAT parquet)"
        )
        path.with_name(path.name + ".old").replace(path)
    assert query(layout, small_config, "SELECT count(*) FROM examples") == [(3,)]
    assert query(
        layout, small_config, "SELECT count(*) FROM ingested_files WHERE rows_updated IS NULL"
    ) == [(1,)]
    result = deliver(layout, small_config, "day2.csv", [*DAY_ONE, ("w4", "u3", "neg", "x", "web")])
    assert (result.rows_loaded, result.rows_already_present) == (1, 3)


def test_an_unknown_changed_row_policy_is_refused_with_the_choices():
    raw = {**SMALL_CONFIG, "dataset": {**SMALL_CONFIG["dataset"], "on_changed_row": "replace"}}
    with pytest.raises(ConfigError, match=r"on_changed_row is 'replace'; use \"update\""):
        parse_config(raw)
    raw["dataset"]["on_changed_row"] = "quarantine"
    assert parse_config(raw).dataset.on_changed_row == "quarantine"
