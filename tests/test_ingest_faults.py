"""The fault matrix: messy landing files, written here byte by byte, lose no good row.

Each case asserts the exact ids loaded, the exact (line, reason kind) of every quarantined row,
that every reject says why, that the file's counts add up, and which read path the file took.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from tests.conftest import one_row, small_config_toml
from warehouse import line_parser
from warehouse.catalog import open_reader
from warehouse.ingest import ingest_landing_files

HEADER = ["id", "user", "label", "text", "device"]
LABELS = ("neg", "pos")


def row(i: int, text: str | None = None, sep: str = ",", **fields: str) -> str:
    values = {"id": f"w{i}", "user": f"u{i}", "label": LABELS[i % 2], "text": text or f"review {i}"}
    values = {**values, "device": "web", **fields}
    return sep.join(values[c] for c in HEADER)


def delimited(*rows: str, sep: str = ",", end: str = "\n", header: bool = True) -> bytes:
    lines = [sep.join(HEADER)] * header + list(rows)
    return "".join(line + end for line in lines).encode()


def ids(*numbers: int) -> set[str]:
    return {f"w{i}" for i in numbers}


def jsonl(*records: dict | str) -> bytes:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return "".join(line + "\n" for line in lines).encode()


def record(i: int, **fields: object) -> dict:
    return dict(zip(HEADER, row(i).split(","), strict=True)) | fields


def parquet(records: list[dict], schema: pa.Schema | None = None) -> Callable[[Path], None]:
    return lambda path: pq.write_table(pa.Table.from_pylist(records, schema=schema), path)


def big_file_with_an_unterminated_quote() -> bytes:
    # Past DuckDB's sniffing sample: its reader would keep the rows before the quote and
    # silently drop every row after it.
    rows = [row(i) for i in range(30_000)]
    rows[20_000] = row(20_000, text='"an open quote')
    return delimited(*rows)


@dataclass(frozen=True)
class Fault:
    name: str
    file_name: str
    content: bytes | Callable[[Path], object]  # the bytes, or what writes them (result unused)
    loaded: set[str]
    rejects: list[tuple[int | None, str]] = field(default_factory=list)  # None: the whole file
    read_path: str | None = "duckdb"  # None: no reader could open the file
    texts: dict[str, str] = field(default_factory=dict)  # id -> the text it must load with
    reason_has: str = ""  # a phrase every reject's reason must hold

    def write(self, path: Path) -> None:
        if callable(self.content):
            self.content(path)
        elif path.suffix == ".gz":
            path.write_bytes(gzip.compress(self.content))
        elif path.suffix == ".zst":
            path.write_bytes(zstandard.ZstdCompressor().compress(self.content))
        else:
            path.write_bytes(self.content)


CP1252 = "caf\xe9 \u2019cr\xe8me\u2019".encode("cp1252")  # é and a curly quote (0x92)
LATIN1_ROW = b"w1,u1,pos," + "na\xefve".encode("latin-1") + b",web"

FAULTS = [
    # --- CSV: quoting ---
    Fault(
        "csv_unterminated_quote_mid_file",
        "a.csv",
        delimited(row(0), row(1, text='"never closed'), row(2), row(3)),
        ids(0, 2, 3),
        [(3, "malformed_csv")],
        "line_parser",
        reason_has="never closed",
    ),
    Fault(
        "csv_unterminated_quote_on_the_last_line",
        "a.csv",
        delimited(row(0), row(1), row(2, text='"open to the end')),
        ids(0, 1),
        [(4, "malformed_csv")],
        "line_parser",
    ),
    Fault(
        "csv_unterminated_quote_after_duckdbs_sniffing_sample",
        "a.csv",
        big_file_with_an_unterminated_quote(),
        {f"w{i}" for i in range(30_000) if i != 20_000},
        [(20_002, "malformed_csv")],
        "line_parser",
    ),
    Fault(
        "csv_text_after_a_closing_quote",
        "a.csv",
        delimited(row(0), row(1, text='"quoted"tail'), row(2)),
        ids(0, 2),
        [(3, "malformed_csv")],
        "line_parser",
    ),
    Fault(
        "csv_quoted_newlines_delimiters_and_doubled_quotes_are_values",
        "a.csv",
        delimited(row(0, text='"two\nlines"'), row(1, text='"a, b and ""c"""'), row(2)),
        ids(0, 1, 2),
        texts={"w0": "two\nlines", "w1": 'a, b and "c"'},
    ),
    Fault(
        "csv_rows_after_quoted_line_breaks_keep_their_line_numbers",
        "a.csv",
        delimited(
            row(0, text='"two\nlines"'), row(1) + ",x", row(2, text='"a\n\nb"'), row(3, id="")
        ),
        ids(0, 2),
        [(4, "wrong_column_count"), (8, "missing_id")],
    ),
    Fault(
        "csv_a_bare_quote_inside_a_value_is_text",
        "a.csv",
        delimited(row(0, text='a 6" screen'), row(1), row(2, text="x,y")),
        ids(0, 1),
        [(4, "wrong_column_count")],
        "duckdb",
        texts={"w0": 'a 6" screen'},
    ),
    # --- CSV: shape ---
    Fault(
        "csv_too_many_and_too_few_fields",
        "a.csv",
        delimited(row(0), row(1) + ",extra", "w2,u2,pos", row(3)),
        ids(0, 3),
        [(3, "wrong_column_count"), (4, "wrong_column_count")],
    ),
    Fault(
        "csv_empty_lines_are_no_rows",
        "a.csv",
        delimited(row(0), "", row(1), "", ""),
        ids(0, 1),
        read_path="line_parser",
    ),
    Fault(
        "csv_a_field_over_duckdbs_2_mb_line_limit",
        "a.csv",
        delimited(row(0), row(1, text="x" * 3_000_000), row(2, text="y,z")),
        ids(0, 1),
        [(4, "wrong_column_count")],
        "line_parser",
    ),
    # --- CSV: line endings and encodings ---
    Fault("csv_crlf_throughout", "a.csv", delimited(row(0), row(1), end="\r\n"), ids(0, 1)),
    Fault(
        "csv_crlf_export_with_lf_rows_appended",
        "a.csv",
        delimited(row(0), row(1), end="\r\n") + delimited(row(2), row(3) + ",x", header=False),
        ids(0, 1, 2),
        [(5, "wrong_column_count")],
        "line_parser",
    ),
    Fault(
        "csv_lf_export_with_crlf_rows_appended",
        "a.csv",
        delimited(row(0)) + delimited(row(1), row(2), end="\r\n", header=False),
        ids(0, 1, 2),
        texts={"w2": "review 2"},
        read_path="line_parser",
    ),
    Fault(
        "csv_a_last_line_ending_in_a_lone_cr",
        "a.csv",
        delimited(row(0), row(1, text='"open'), row(2))[:-1] + b"\r",
        ids(0, 2),
        [(3, "malformed_csv")],
        "line_parser",
    ),
    Fault(
        "csv_utf8_bom",
        "a.csv",
        b"\xef\xbb\xbf" + delimited(row(0), row(1, text="caf\u00e9")),
        ids(0, 1),
        texts={"w1": "caf\u00e9"},
    ),
    Fault(
        "csv_one_latin1_line",
        "a.csv",
        delimited(row(0)) + LATIN1_ROW + b"\n" + delimited(row(2), header=False),
        ids(0, 2),
        [(3, "bad_encoding")],
        "line_parser",
        reason_has="0xEF",
    ),
    Fault(
        "csv_a_cp1252_file",
        "a.csv",
        delimited(row(0)) + b"w1,u1,pos," + CP1252 + b",web\n" + delimited(row(2), header=False),
        ids(0, 2),
        [(3, "bad_encoding")],
        "line_parser",
        reason_has="cp1252",
    ),
    Fault(
        "csv_a_cp1252_byte_inside_a_quoted_line_break",
        "a.csv",
        delimited(row(0)) + b'w1,u1,pos,"one\ntwo \x93",web\n' + delimited(row(2), header=False),
        ids(0, 2),
        [(3, "bad_encoding")],
        "line_parser",
        reason_has="0x93",
    ),
    Fault(
        "csv_a_nul_byte",
        "a.csv",
        delimited(row(0), row(1, text="a\0b"), row(2)),
        ids(0, 2),
        [(3, "nul_byte")],
        reason_has="NUL",
    ),
    Fault(
        "csv_whitespace_only_payload_and_label",
        "a.csv",
        delimited(row(0), row(1, text="\t \u00a0 "), row(2, label="\u3000"), row(3, text=" ok ")),
        ids(0, 3),
        [(3, "empty_payload"), (4, "missing_label")],
        texts={"w3": "ok"},
    ),
    Fault(
        "csv_whitespace_only_id_and_group",
        "a.csv",
        delimited(row(0), row(1, id="\t"), row(2, user="\u00a0\u2003"), row(3)),
        ids(0, 3),
        [(3, "missing_id"), (4, "missing_group")],
    ),
    # --- compressed ---
    Fault(
        "csv_gz",
        "a.csv.gz",
        delimited(row(0), row(1), row(2) + ",x"),
        ids(0, 1),
        [(4, "wrong_column_count")],
    ),
    Fault(
        "csv_zst_with_an_unterminated_quote",
        "a.csv.zst",
        delimited(row(0), row(1, text='"open'), row(2)),
        ids(0, 2),
        [(3, "malformed_csv")],
        "line_parser",
    ),
    Fault(
        "tsv_gz_with_crlf_appended",
        "a.tsv.gz",
        delimited(row(0, sep="\t"), sep="\t")
        + delimited(row(1, sep="\t"), row(2, sep="\t"), sep="\t", end="\r\n", header=False),
        ids(0, 1, 2),
        read_path="line_parser",
    ),
    Fault(
        "jsonl_gz_with_a_broken_line",
        "a.jsonl.gz",
        jsonl(record(0), "{broken", record(2)),
        ids(0, 2),
        [(2, "malformed_json")],
    ),
    Fault(
        "jsonl_zst",
        "a.jsonl.zst",
        jsonl(record(0), record(1)),
        ids(0, 1),
    ),
    Fault(
        "parquet_compressed_again_is_refused",
        "a.parquet.gz",
        b"whatever",
        set(),
        [(None, "unreadable_file")],
        None,
        reason_has="Parquet compresses itself",
    ),
    Fault(
        "gzip_cut_short",
        "a.csv.gz",
        lambda path: path.write_bytes(gzip.compress(big_file_with_an_unterminated_quote())[:9_999]),
        set(),
        [(None, "unreadable_file")],
        None,
        reason_has="damaged or cut short",
    ),
    # --- whole files ---
    Fault(
        "an_empty_file", "a.csv", b"", set(), [(None, "unreadable_file")], None, reason_has="empty"
    ),
    Fault(
        "a_file_of_blank_lines",
        "a.jsonl",
        b"\n \r\n\t\n",
        set(),
        [(None, "unreadable_file")],
        None,
        reason_has="empty",
    ),
    Fault("a_header_and_no_rows", "a.csv", delimited(), set()),
    Fault(
        "a_utf16_file",
        "a.csv",
        delimited(row(0)).decode().encode("utf-16"),
        set(),
        [(None, "unreadable_file")],
        None,
        reason_has="UTF-16",
    ),
    # --- TSV ---
    Fault(
        "tsv_quotes_are_text_and_extra_tabs_are_rejected",
        "a.tsv",
        delimited(row(0, sep="\t", text='say "hi'), row(1, sep="\t") + "\tx", sep="\t"),
        ids(0),
        [(3, "wrong_column_count")],
        texts={"w0": 'say "hi'},
    ),
    Fault(
        "tsv_a_latin1_line",
        "a.txt",
        delimited(row(0, sep="\t"), sep="\t") + LATIN1_ROW.replace(b",", b"\t") + b"\n",
        ids(0),
        [(3, "bad_encoding")],
        "line_parser",
        reason_has="UTF-8",
    ),
    # --- JSON lines ---
    Fault(
        "jsonl_not_an_object_and_missing_keys",
        "a.jsonl",
        jsonl(record(0), "[1, 2]", '"text"', {"id": "w3", "user": "u3", "label": "pos"}),
        ids(0),
        [(2, "malformed_json"), (3, "malformed_json"), (4, "empty_payload")],
    ),
    Fault(
        "jsonl_crlf_bom_and_blank_lines",
        "a.jsonl",
        b"\xef\xbb\xbf" + jsonl(record(0), "", "   ", record(1)).replace(b"\n", b"\r\n"),
        ids(0, 1),
    ),
    Fault(
        "jsonl_a_line_over_duckdbs_2_mb_limit",
        "a.jsonl",
        jsonl(record(0), record(1, text="x" * 3_000_000), "{nope"),
        ids(0, 1),
        [(3, "malformed_json")],
        "line_parser",
    ),
    Fault(
        "jsonl_a_latin1_line",
        "a.ndjson",
        jsonl(record(0)) + b'{"id": "w1", "text": "' + "\xe9t\xe9".encode("latin-1") + b'"}\n',
        ids(0),
        [(2, "bad_encoding")],
        "line_parser",
        reason_has="save the file as UTF-8",
    ),
    Fault(
        "jsonl_numbers_where_strings_belong",
        "a.jsonl",
        jsonl(record(0, id=17), record(1, label=1)),
        {"17"},
        [(2, "unknown_label")],
    ),
    # --- Parquet ---
    Fault(
        "parquet_nulls_blanks_unknown_labels_and_nul_bytes",
        "a.parquet",
        parquet(
            [
                record(0),
                record(1, label=None),
                record(2, label="maybe"),
                record(3, text="   "),
                record(4, text="x\0y"),
                record(5),
            ]
        ),
        ids(0, 5),
        [(2, "missing_label"), (3, "unknown_label"), (4, "empty_payload"), (5, "nul_byte")],
    ),
    Fault(
        "parquet_integer_ids",
        "a.parquet",
        parquet(
            [record(0, id=10), record(1, id=11)],
            pa.schema([("id", pa.int64())] + [(c, pa.string()) for c in HEADER[1:]]),
        ),
        {"10", "11"},
    ),
    Fault(
        "parquet_that_is_not_parquet",
        "a.parquet",
        b"PAR1 but then nothing",
        set(),
        [(None, "unreadable_file")],
        None,
    ),
]


def ingest_one(layout, config, fault: Fault):
    path = layout.landing / "web" / fault.file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    fault.write(path)
    (result,) = ingest_landing_files(layout, config).files
    with open_reader(layout, config) as con:
        loaded = dict(con.execute("SELECT example_id, text FROM examples").fetchall())
        lines = dict(con.execute("SELECT example_id, line_number FROM examples").fetchall())
        # Every row the cases write comes from device "web": a mangled line ending shows here.
        assert con.execute("SELECT count(*) FROM examples WHERE device <> 'web'").fetchone() == (0,)
        rejects = con.execute(
            "SELECT line_number, error_type, reason FROM rejected_rows ORDER BY line_number"
        ).fetchall()
        (read_path,) = one_row(con.execute("SELECT read_path FROM ingested_files"))
    if isinstance(fault.content, bytes) and result.status == "loaded":
        starts = record_starts(fault.content)
        assert lines == {i: starts[i] for i in lines}
    return result, loaded, rejects, read_path


def record_starts(content: bytes) -> dict[str, int]:
    """id -> the physical line (1-based) on which its record starts, read off the bytes."""
    record_start = re.compile(r'^(?:\ufeff)?(?:(w\d+)[,\t]|{"id": "?(\w+)"?[,}])')
    starts: dict[str, int] = {}
    for number, line in enumerate(content.decode("utf-8", "replace").split("\n"), 1):
        if found := record_start.match(line):
            starts.setdefault(found.group(1) or found.group(2), number)
    return starts


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_a_messy_file_loads_every_good_row_and_quarantines_each_bad_one(
    layout, small_config, fault
):
    result, loaded, rejects, read_path = ingest_one(layout, small_config, fault)

    assert set(loaded) == fault.loaded
    assert [(line, kind) for line, kind, _ in rejects] == fault.rejects
    assert all(reason and fault.reason_has in reason for _, _, reason in rejects)
    assert read_path == fault.read_path
    for example_id, text in fault.texts.items():
        assert loaded[example_id] == text
    if result.status == "loaded":
        assert result.rows_loaded == len(loaded)
        assert result.rows_rejected == len(rejects)
        assert result.rows_read == len(loaded) + len(rejects)


def test_the_fault_matrix_covers_twenty_kinds_across_every_format():
    formats = {Path(f.file_name).suffixes[0] for f in FAULTS}
    assert len(FAULTS) >= 20 and {".csv", ".tsv", ".jsonl", ".parquet"} <= formats


def test_a_line_over_the_record_limit_is_rejected_and_the_rest_loads(
    layout, small_config, monkeypatch
):
    # The limit is 64 MiB; a lower one here keeps the file small. Nothing else changes.
    monkeypatch.setattr(line_parser, "MAX_RECORD_BYTES", 1 << 20)
    # Line 5 opens a quote that 20 lines of 100 kB each would have to hold: the record limit
    # stops it there, and those lines load as the rows they are.
    long_rows = [row(i, text=str(i) * 100_000) for i in range(4, 24)]
    fault = Fault(
        "over_the_limit",
        "a.csv",
        delimited(row(0), row(1, text="x" * (2 << 20)), row(2), row(3, text='"y'), *long_rows),
        ids(0, 2, *range(4, 24)),
        [(3, "line_too_long"), (5, "malformed_csv")],
        "line_parser",
    )
    _, loaded, rejects, read_path = ingest_one(layout, small_config, fault)
    assert set(loaded) == fault.loaded and read_path == "line_parser"
    assert [(line, kind) for line, kind, _ in rejects] == fault.rejects
    with open_reader(layout, small_config) as con:
        (raw,) = con.execute("SELECT raw FROM rejected_rows WHERE line_number = 3").fetchone()
    assert raw.startswith("w1,u1,pos,xxx") and len(raw) == line_parser.RAW_KEPT_BYTES


def test_the_read_path_and_why_are_in_sql(layout, small_config):
    fault = next(f for f in FAULTS if f.name == "csv_unterminated_quote_mid_file")
    ingest_one(layout, small_config, fault)
    with open_reader(layout, small_config) as con:
        (path, why) = con.execute(
            "SELECT read_path, fallback_reason FROM ingested_files"
        ).fetchone()
    assert path == "line_parser" and why.startswith("DuckDB's reader")


@pytest.mark.slow
def test_messy_files_through_the_cli_and_dagster_keep_their_good_rows(
    layout, tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from bayesline.cli import app

    config = tmp_path / "faults.toml"
    config.write_text(
        small_config_toml(dataset={"name": "faults"}, splits={"salt": "faults"}, quality=None)
    )
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config))
    (layout.landing / "web").mkdir(parents=True)
    (layout.landing / "app").mkdir(parents=True)
    good = [row(i) for i in range(10)]
    (layout.landing / "web" / "export.csv").write_bytes(
        delimited(*good[:5], end="\r\n")
        + delimited(*good[5:8], row(8, text='"open'), *good[9:], header=False)
    )
    tsv = delimited(*(row(i, sep="\t") for i in range(10, 20)), sep="\t")
    latin1 = tsv.replace(b"review 13", "na\xefve".encode("latin-1"))
    (layout.landing / "app" / "reviews.tsv.gz").write_bytes(gzip.compress(latin1))
    (layout.landing / "app" / "more.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(jsonl(*(record(i) for i in range(20, 30)), "{"))
    )
    runner = CliRunner()

    assert runner.invoke(app, ["materialize", "--select", "examples"]).exit_code == 0
    files = runner.invoke(
        app,
        [
            "sql",
            "SELECT regexp_extract(file_path, '[^/]+$') AS f, read_path, rows_read, "
            "rows_loaded, rows_rejected FROM ingested_files ORDER BY f",
            "--format",
            "csv",
        ],
    )
    rejects = runner.invoke(
        app,
        [
            "sql",
            "SELECT regexp_extract(file_path, '[^/]+$') AS f, line_number, error_type "
            "FROM rejected_rows ORDER BY f, line_number",
            "--format",
            "csv",
        ],
    )

    assert files.stdout.split() == [
        "f,read_path,rows_read,rows_loaded,rows_rejected",
        "export.csv,line_parser,10,9,1",
        "more.jsonl.zst,duckdb,11,10,1",
        "reviews.tsv.gz,line_parser,10,9,1",
    ]
    assert rejects.stdout.split() == [
        "f,line_number,error_type",
        "export.csv,10,malformed_csv",
        "more.jsonl.zst,11,malformed_json",
        "reviews.tsv.gz,5,bad_encoding",
    ]


def test_the_read_paths_benchmark_measures_both_paths_on_the_same_rows(tmp_path):
    from benchmarks.read_paths_chart import write_read_paths_chart
    from benchmarks.suite import run_suite

    out = run_suite(2_000, tmp_path / "work", tmp_path / "results", ["read_paths"], lambda _: None)
    stages = {s["stage"]: s for s in json.loads(out.read_text())["stages"]}
    fast, careful = stages["ingest_duckdb_path"], stages["ingest_line_parser"]
    assert (fast["read_path"], fast["rows_loaded"], fast["rows_rejected"]) == ("duckdb", 2_000, 0)
    assert (careful["read_path"], careful["rows_loaded"], careful["rows_rejected"]) == (
        "line_parser",
        1_999,
        1,
    )
    assert careful["reference"] == "ingest_duckdb_path"
    chart = write_read_paths_chart(tmp_path / "results", tmp_path / "chart.png")
    assert chart and chart.read_bytes().startswith(b"\x89PNG")


def test_line_numbers_count_quoted_line_breaks_across_a_large_file(layout, small_config):
    # Every 7th review spans two lines; one row in the middle has a field too many.
    bad = 12_345
    rows = [row(i, text='"first line\nsecond line"' if i % 7 == 0 else None) for i in range(20_000)]
    rows[bad] += ",extra"
    fault = Fault(
        "many_quoted_line_breaks",
        "a.csv",
        delimited(*rows),
        {f"w{i}" for i in range(20_000) if i != bad},
        [(2 + bad + (bad + 6) // 7, "wrong_column_count")],
    )
    _, loaded, rejects, read_path = ingest_one(layout, small_config, fault)  # checks every line
    assert set(loaded) == fault.loaded and read_path == "duckdb"
    assert [(line, kind) for line, kind, _ in rejects] == fault.rejects
