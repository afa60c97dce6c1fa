import json
import os

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import write_csv
from warehouse.catalog import open_reader
from warehouse.ingest import ingest_landing_files

GOOD = [
    ("w1", "u1", "pos", "great phone", "web"),
    ("w2", "u1", "neg", "broke in a day", "web"),
    ("w3", "u2", "pos", "works, as promised", "web"),
]


def rejected(layout, config):
    with open_reader(layout, config) as con:
        return con.execute(
            "SELECT line_number, raw, error_type, reason FROM rejected_rows ORDER BY line_number"
        ).fetchall()


def examples(layout, config, columns="example_id"):
    with open_reader(layout, config) as con:
        return con.execute(f"SELECT {columns} FROM examples ORDER BY example_id").fetchall()


def test_ingesting_twice_never_duplicates_rows(layout, small_config):
    write_csv(layout.landing / "web" / "a.csv", GOOD)
    first = ingest_landing_files(layout, small_config)
    second = ingest_landing_files(layout, small_config)
    assert [f.status for f in first.files] == ["loaded"]
    assert [f.status for f in second.files] == ["skipped"]
    assert examples(layout, small_config) == [("w1",), ("w2",), ("w3",)]


def test_each_row_carries_its_lineage_and_distribution(layout, small_config):
    write_csv(layout.landing / "web" / "a.csv", GOOD[:1])
    write_csv(layout.landing / "app" / "b.csv", [("a1", "u9", "neg", "meh", "ios")])
    ingest_landing_files(layout, small_config)
    rows = examples(
        layout, small_config, "example_id, source, distribution, group_key, label, line_number"
    )
    assert rows == [
        ("a1", "app", "target", "u9", "neg", 2),
        ("w1", "web", "training", "u1", "pos", 2),
    ]


def test_every_kind_of_bad_row_is_quarantined_with_its_line_and_reason(layout, small_config):
    path = layout.landing / "web" / "bad.csv"
    write_csv(path, GOOD)
    with path.open("ab") as handle:
        handle.write(b"w4,u3,pos,too,many,fields\n")  # line 5
        handle.write(b"w5,u3,pos,caf\xe9 latin-1,web\n")  # line 6
        handle.write(b"w6,u3,,no label,web\n")  # line 7
        handle.write(b"w7,u3,meh,unknown label,web\n")  # line 8
        handle.write(b"w8,u3,pos,   ,web\n")  # line 9
        handle.write(b"w1,u1,neg,same id other text,web\n")  # line 10
        handle.write(b",u3,pos,no id,web\n")  # line 11
        handle.write(b'w3,u2,pos,"works, as promised",web\n')  # line 12: exact duplicate
    result = ingest_landing_files(layout, small_config).files[0]
    found = {(line, kind) for line, _, kind, _ in rejected(layout, small_config)}
    assert found == {
        (2, "conflicting_duplicate"),
        (5, "wrong_column_count"),
        (6, "bad_encoding"),
        (7, "missing_label"),
        (8, "unknown_label"),
        (9, "empty_payload"),
        (10, "conflicting_duplicate"),
        (11, "missing_id"),
        (12, "exact_duplicate"),
    }
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (11, 2, 9)
    assert examples(layout, small_config) == [("w2",), ("w3",)]


def test_repeated_ids_are_found_when_the_ids_are_counted_in_several_passes(
    layout, small_config, monkeypatch
):
    from warehouse import ingest

    monkeypatch.setattr(ingest, "IDS_PER_PASS", 2)  # 7 valid rows: four passes
    rows = [
        *GOOD,
        GOOD[0],
        ("w2", "u1", "neg", "other text", "web"),
        ("w4", "u3", "pos", "ok", "web"),
    ]
    rows.append(GOOD[0])
    write_csv(layout.landing / "web" / "a.csv", rows)
    result = ingest_landing_files(layout, small_config).files[0]
    found = [(line, kind) for line, _, kind, _ in rejected(layout, small_config)]
    assert found == [
        (3, "conflicting_duplicate"),
        (5, "exact_duplicate"),
        (6, "conflicting_duplicate"),
        (8, "exact_duplicate"),
    ]
    assert (result.rows_loaded, result.rows_rejected) == (3, 4)
    assert examples(layout, small_config) == [("w1",), ("w3",), ("w4",)]


def test_a_rejected_row_keeps_its_raw_text_and_a_readable_reason(layout, small_config):
    path = write_csv(layout.landing / "web" / "a.csv", GOOD)
    with path.open("a") as handle:
        handle.write("w9,u3,meh,unknown label,web\nw10,u3,pos,x,y,z\n")
    ingest_landing_files(layout, small_config)
    (_, raw_json, _, reason), (_, raw_line, _, _) = rejected(layout, small_config)
    assert json.loads(raw_json)["text"] == "unknown label"
    assert "label 'meh' is not in the label set [neg, pos]" in reason
    assert raw_line == "w10,u3,pos,x,y,z"


def test_an_id_another_source_holds_with_other_content_is_rejected_and_the_first_kept(
    layout, small_config
):
    write_csv(layout.landing / "web" / "a.csv", GOOD)
    ingest_landing_files(layout, small_config)
    # Same id from another source: identical is already present, different is a conflict.
    write_csv(layout.landing / "app" / "b.csv", [("w1", "u1", "neg", "rewritten", "ios"), GOOD[1]])
    (result,) = ingest_landing_files(layout, small_config).new_files
    assert (result.rows_loaded, result.rows_already_present, result.rows_rejected) == (0, 1, 1)
    ((line, _, kind, reason),) = rejected(layout, small_config)
    assert (line, kind) == (2, "conflicting_duplicate")
    assert "already in the warehouse from source web" in reason
    assert examples(layout, small_config, "example_id, text") == [
        ("w1", "great phone"),
        ("w2", "broke in a day"),
        ("w3", "works, as promised"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("a.csv", "id,label,text\nw1,pos,hi\n", "missing column(s) user, device"),
        ("a.parquet", "not parquet", "could not read the file"),
        ("a.xlsx", "whatever", "unsupported file type"),
    ],
)
def test_an_unreadable_file_is_recorded_as_rejected_with_its_reason(
    layout, small_config, name, content, reason
):
    (layout.landing / "web").mkdir(parents=True)
    (layout.landing / "web" / name).write_text(content)
    result = ingest_landing_files(layout, small_config).files[0]
    assert result.status == "rejected" and reason in result.reason
    ((line, raw, kind, recorded),) = rejected(layout, small_config)
    assert (line, raw, kind) == (None, None, "unreadable_file") and reason in recorded
    with open_reader(layout, small_config) as con:
        assert con.execute("SELECT status FROM ingested_files").fetchall() == [("rejected",)]


def test_jsonl_and_parquet_and_tsv_files_load_alike(layout, small_config):
    record = {"id": "j1", "user": "u1", "label": "pos", "text": "fine", "device": "ios"}
    (layout.landing / "app").mkdir(parents=True)
    (layout.landing / "app" / "a.jsonl").write_text(json.dumps(record) + "\n{broken\n")
    columns = {k: [v.replace("1", "2")] for k, v in record.items()}
    pq.write_table(pa.table(columns), layout.landing / "app" / "b.parquet")
    (layout.landing / "web").mkdir()
    (layout.landing / "web" / "c.tsv").write_text(
        'id\tuser\tlabel\ttext\tdevice\nt1\tu3\tneg\ta "quoted" word  \tweb\n'
    )
    ingest_landing_files(layout, small_config)
    assert examples(layout, small_config, "example_id, text") == [
        ("j1", "fine"),
        ("j2", "fine"),
        ("t1", 'a "quoted" word'),
    ]
    assert [(line, kind) for line, _, kind, _ in rejected(layout, small_config)] == [
        (2, "malformed_json")
    ]


def test_without_an_id_column_ids_are_content_hashes_stable_across_runs(layout, small_config):
    from dataclasses import replace

    config = replace(small_config, dataset=replace(small_config.dataset, id_column=None))
    write_csv(
        layout.landing / "web" / "a.csv",
        [r[1:] for r in GOOD],
        header=["user", "label", "text", "device"],
    )
    ingest_landing_files(layout, config)
    ids = examples(layout, config)
    assert len(ids) == 3 and all(len(i) == 20 for (i,) in ids)
    write_csv(
        layout.landing / "web" / "b.csv", [GOOD[0][1:]], header=["user", "label", "text", "device"]
    )
    ingest_landing_files(layout, config)
    assert examples(layout, config) == ids  # the same sentence again is a duplicate


def test_a_crash_before_the_commit_record_is_repaired_by_the_next_run(layout, small_config):
    write_csv(layout.landing / "web" / "a.csv", GOOD)
    (result,) = ingest_landing_files(layout, small_config).files
    # Simulate a crash after the examples were written but before the commit record.
    os.remove(layout.ingested_files_dir / f"{result.file_id}.parquet")
    (again,) = ingest_landing_files(layout, small_config).files
    assert again.status == "loaded" and again.rows_loaded == 3
    assert examples(layout, small_config) == [("w1",), ("w2",), ("w3",)]
    assert rejected(layout, small_config) == []


def test_nothing_half_written_is_ever_visible_in_the_lake(layout, small_config):
    write_csv(layout.landing / "web" / "a.csv", GOOD)
    ingest_landing_files(layout, small_config)
    leftovers = [p for p in layout.lake.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_polling_hashes_only_new_or_rewritten_files(layout, small_config, monkeypatch):
    from warehouse import ingest

    write_csv(layout.landing / "web" / "a.csv", GOOD)
    pending, seen = ingest.pending_landing_files(layout)
    assert [f.path.name for f, _ in pending] == ["a.csv"]
    ingest_landing_files(layout, small_config)
    hashed = []
    monkeypatch.setattr(ingest, "file_sha256", lambda path: hashed.append(path.name) or "x")
    write_csv(layout.landing / "web" / "b.csv", GOOD[:1])
    pending, seen = ingest.pending_landing_files(layout, seen)
    assert hashed == ["b.csv"]
    assert [f.path.name for f, _ in pending] == ["b.csv"]


@pytest.mark.slow
def test_line_numbers_hold_in_a_file_read_by_several_threads(layout, small_config):
    # Big enough for DuckDB to split the file between threads (its CSV buffers are 32 MB),
    # with a malformed line in the middle, so later records shift down one line.
    n, bad_after = 1_500_000, 900_000
    path = layout.landing / "web" / "big.csv"
    path.parent.mkdir(parents=True)
    parts = [path.with_suffix(f".part{k}") for k in range(2)]
    for part, (start, stop) in zip(parts, [(0, bad_after), (bad_after, n)], strict=True):
        duckdb.execute(
            f"COPY (SELECT 'w' || i AS id, 'u' || (i // 3) AS user, "
            "CASE WHEN i % 2 = 0 THEN 'pos' ELSE 'neg' END AS label, "
            "'review ' || i || ' of a phone' AS text, 'web' AS device "
            f"FROM range({start}, {stop}) AS t(i)) TO '{part}' (HEADER {start == 0})"
        )
    with open(path, "wb") as out:
        out.write(parts[0].read_bytes() + b"w-bad,u,pos,too,many,fields\n" + parts[1].read_bytes())
    for part in parts:
        part.unlink()

    summary = ingest_landing_files(layout, small_config)

    assert summary.rows_loaded == n
    with open_reader(layout, small_config) as con:
        misplaced = con.execute(
            "SELECT count(*) FROM (SELECT line_number, CAST(example_id[2:] AS BIGINT) AS i "
            f"FROM examples) WHERE line_number <> i + 2 + CAST(i >= {bad_after} AS INTEGER)"
        ).fetchone()[0]
    assert misplaced == 0
    assert [(line, kind) for line, _, kind, _ in rejected(layout, small_config)] == [
        (bad_after + 2, "wrong_column_count")
    ]
