"""The landing files: which rows go to which file, the planted malformed rows, review ids, and
the bytes of each format (CSV, TSV, JSONL, Parquet)."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bayesline.demo.population import RowGenerator
from bayesline.demo.records import COLUMNS, NEGATIVE, SOURCES, Row, User
from deployment.atomic_files import write_bytes_atomically

MALFORMED_KINDS = (
    "extra_field",  # a CSV/TSV line with one field too many
    "missing_field",  # a CSV/TSV line with one field too few
    "invalid_utf8",  # a CSV line in Latin-1 or Windows-1252 instead of UTF-8
    "invalid_json",  # a JSONL line that is not a JSON object
    "missing_label",  # empty (or, in Parquet, null) sentiment
    "unknown_label",  # a sentiment outside the label set
    "empty_text",  # an empty review text
    "duplicate_id_within_file",  # a review_id reused with different content in its file
    "duplicate_id_across_files",  # a review_id reused with different content in a later file
)


@dataclass(frozen=True)
class FileSpec:
    source: str
    name: str
    share: float  # of the source's well-formed rows

    @property
    def relpath(self) -> str:
        return f"{self.source}/{self.name}"

    @property
    def fmt(self) -> str:
        return self.name.rsplit(".", 1)[1]

    @property
    def first_line(self) -> int:
        """The line (or Parquet row) number of the first data row: CSV and TSV have a header."""
        return 2 if self.fmt in ("csv", "tsv") else 1


FILES = (
    FileSpec("web_reviews", "web-2024-01.csv", 0.24),
    FileSpec("web_reviews", "web-2024-02.csv", 0.26),
    FileSpec("web_reviews", "web-2024-03.csv", 0.27),
    FileSpec("web_reviews", "web-2024-04.tsv", 0.23),
    FileSpec("partner_feed", "partner-2024-q1.parquet", 1.0),
    FileSpec("app_reviews", "app-2024-03.jsonl", 0.45),
    FileSpec("app_reviews", "app-2024-04.jsonl", 0.55),
)

# (file, kind, flavour); a duplicate across files names the earlier file as its flavour.
PLANTS = (
    ("web_reviews/web-2024-01.csv", "extra_field", "unquoted comma"),
    ("web_reviews/web-2024-01.csv", "invalid_utf8", "latin-1"),
    ("web_reviews/web-2024-01.csv", "missing_label", ""),
    ("web_reviews/web-2024-01.csv", "duplicate_id_within_file", ""),
    ("web_reviews/web-2024-02.csv", "missing_field", ""),
    ("web_reviews/web-2024-02.csv", "unknown_label", "neutral"),
    ("web_reviews/web-2024-02.csv", "duplicate_id_across_files", "web_reviews/web-2024-01.csv"),
    ("web_reviews/web-2024-03.csv", "invalid_utf8", "cp1252"),
    ("web_reviews/web-2024-03.csv", "empty_text", ""),
    ("web_reviews/web-2024-04.tsv", "extra_field", "tab"),
    ("web_reviews/web-2024-04.tsv", "missing_field", ""),
    ("partner_feed/partner-2024-q1.parquet", "missing_label", "null"),
    ("partner_feed/partner-2024-q1.parquet", "empty_text", ""),
    ("app_reviews/app-2024-03.jsonl", "invalid_json", "truncated"),
    ("app_reviews/app-2024-03.jsonl", "unknown_label", "5 stars"),
    ("app_reviews/app-2024-03.jsonl", "duplicate_id_within_file", ""),
    ("app_reviews/app-2024-04.jsonl", "invalid_json", "python repr"),
    ("app_reviews/app-2024-04.jsonl", "missing_label", ""),
    ("app_reviews/app-2024-04.jsonl", "duplicate_id_across_files", "app_reviews/app-2024-03.jsonl"),
)

ID_PREFIX = {"web_reviews": "web", "partner_feed": "pf", "app_reviews": "app"}


def split_into_files(rows: dict[str, list[Row]], sizes: dict[str, int]) -> dict[str, list[Row]]:
    """Each source's rows cut into its files by their shares, keyed by path in FILES order."""
    files: dict[str, list[Row]] = {}
    for source in SOURCES:
        specs = [s for s in FILES if s.source == source]
        start = 0
        for i, spec in enumerate(specs):
            last = i == len(specs) - 1
            end = len(rows[source]) if last else start + round(spec.share * sizes[source])
            files[spec.relpath] = rows[source][start:end]
            start = end
    return files


def assign_review_ids(files: dict[str, list[Row]]) -> None:
    """Number each source's rows in file order; a planted duplicate takes its original's id."""
    counters: Counter[str] = Counter()
    for spec in FILES:
        for row in files[spec.relpath]:
            if row.duplicate_of is None:
                counters[spec.source] += 1
                row.review_id = f"{ID_PREFIX[spec.source]}-{counters[spec.source]:06d}"
    for spec in FILES:
        for row in files[spec.relpath]:
            if row.duplicate_of is not None:
                row.review_id = row.duplicate_of.review_id


# --------------------------------------------------------------------------------------------
# Planting the malformed rows


def plant_malformed(
    gen: RowGenerator, files: dict[str, list[Row]], users: dict[str, list[User]]
) -> None:
    """Insert one new row per entry of PLANTS at a random place in its file."""
    rng = gen.rng("malformed")
    for relpath, kind, flavour in PLANTS:
        source = relpath.split("/", 1)[0]
        lines = files[relpath]
        # Drawn for every plant, though a duplicate keeps its original's user: skipping the
        # draw would shift the random stream and change the files.
        user = rng.choice(users[source])
        start = 0
        if kind in ("duplicate_id_within_file", "duplicate_id_across_files"):
            earlier = files[relpath if kind == "duplicate_id_within_file" else flavour]
            original = rng.choice([r for r in earlier if r.kind is None])
            row = gen.row(rng, source, original.user, length="medium", language="en")
            row.duplicate_of = original
            start = lines.index(original) + 1 if original in lines else 0  # after the original
        else:
            row = _malformed_row(gen, rng, source, user, kind, flavour)
        row.kind, row.flavour = kind, flavour
        lines.insert(rng.randint(start, len(lines)), row)


def _malformed_row(
    gen: RowGenerator, rng: random.Random, source: str, user: User, kind: str, flavour: str
) -> Row:
    # Accented Spanish letters are what make Latin-1 bytes invalid UTF-8.
    language = "es" if flavour == "latin-1" else "en"
    label = NEGATIVE if kind == "invalid_utf8" else None  # the added sentences complain
    row = gen.row(rng, source, user, label=label, length="medium", language=language)
    if kind == "invalid_utf8" and flavour == "latin-1":
        if row.text.isascii():  # ASCII is valid UTF-8 in any of these encodings
            row.text += " Llegó dañado."
    elif kind == "invalid_utf8":
        row.text = "Don\u2019t trust the \u201cpremium\u201d label. " + row.text
    elif kind == "extra_field" and flavour == "unquoted comma":
        # A text with exactly one comma, written without the quotes CSV needs.
        head, *rest = row.text.replace('"', "").split(",")
        row.text = f"{head},{''.join(rest)}" if rest else f"Honestly, {row.text}"
    elif kind == "extra_field":  # a tab pasted between two sentences of a TSV text
        text = row.text.replace(". ", ".\t", 1)
        row.text = text if "\t" in text else f"{text}\tThanks."
    elif kind == "missing_label":
        row.sentiment = None if flavour == "null" else ""
    elif kind == "unknown_label":
        row.sentiment = flavour
    elif kind == "empty_text":
        row.text = ""
    return row


# --------------------------------------------------------------------------------------------
# Writing


def file_bytes(spec: FileSpec, rows: list[Row]) -> bytes:
    """The contents of one landing file; planted rows are written in their broken form."""
    return _WRITERS[spec.fmt](rows)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` atomically, unless the file already holds exactly these bytes
    (so an unchanged file keeps its mtime and is not picked up again)."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    # The staging file's name is hidden: landing discovery skips it.
    write_bytes_atomically(path, data)
    return True


def _csv_line(values: Sequence[str | None], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _csv_bytes(rows: list[Row]) -> bytes:
    out = [_csv_line(COLUMNS).encode()]
    for row in rows:
        values = row.values()
        if row.kind == "extra_field":  # the text's comma is left unquoted
            out.append((",".join(v or "" for v in values) + "\n").encode())
        elif row.kind == "missing_field":
            out.append(_csv_line(values[:-1]).encode())
        elif row.kind == "invalid_utf8":
            out.append(_csv_line(values).encode(row.flavour))
        else:
            out.append(_csv_line(values).encode())
    return b"".join(out)


def _tsv_bytes(rows: list[Row]) -> bytes:
    out = ["\t".join(COLUMNS) + "\n"]
    for row in rows:
        values = [v or "" for v in row.values()]
        if row.kind == "missing_field":
            values = values[:-1]
        elif row.kind != "extra_field" and any("\t" in v or "\n" in v for v in values):
            raise AssertionError("TSV values must not contain tabs or newlines")
        out.append("\t".join(values) + "\n")
    return "".join(out).encode()


def _jsonl_bytes(rows: list[Row]) -> bytes:
    out = []
    for row in rows:
        record = dict(zip(COLUMNS, row.values(), strict=True))
        line = json.dumps(record, ensure_ascii=False)
        if row.kind == "invalid_json" and row.flavour == "truncated":
            line = line[: len(line) // 2]
        elif row.kind == "invalid_json":  # a Python dict's repr: single quotes
            line = repr(record)
        out.append(line + "\n")
    return "".join(out).encode()


def _parquet_bytes(rows: list[Row]) -> bytes:
    columns = [list(values) for values in zip(*(row.values() for row in rows), strict=True)]
    table = pa.table(
        {
            name: pa.array(values, type=pa.string())
            for name, values in zip(COLUMNS, columns, strict=True)
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


_WRITERS = {"csv": _csv_bytes, "tsv": _tsv_bytes, "jsonl": _jsonl_bytes, "parquet": _parquet_bytes}
