"""The demo data generator: real files in tmp_path, read back with DuckDB and plain parsing."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from bayesline.demo import (
    MALFORMED_KINDS,
    DemoDataSummary,
    build_demo_examples,
    generate_demo_data,
    main,
)
from warehouse.config import load_config

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(REPO_ROOT / "bayesline.toml")
COLUMNS = list(CONFIG.dataset.input_columns)
LABELS = set(CONFIG.dataset.labels)
SMALL = {"n_training": 600, "n_target": 300}
SYNTAX_KINDS = {"extra_field", "missing_field", "invalid_utf8", "invalid_json"}
DUCKDB_ERRORS = {
    "TOO MANY COLUMNS": "extra_field",
    "MISSING COLUMNS": "missing_field",
    "INVALID ENCODING": "invalid_utf8",
}


@dataclass(frozen=True)
class Line:
    """One data line (or Parquet row) of a landing file, parsed without the generator's help."""

    path: str
    line: int
    record: dict | None  # None when the line does not parse
    error: str | None = None  # the malformed kind a parser sees

    @property
    def source(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def distribution(self) -> str:
        return CONFIG.distribution_of(self.source)


def parse_landing(root: Path) -> list[Line]:
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relpath = path.relative_to(root).as_posix()
        suffix = path.suffix
        if suffix == ".parquet":
            rows = pq.read_table(path).to_pylist()
            lines += [Line(relpath, i, row) for i, row in enumerate(rows, start=1)]
            continue
        raw_lines = path.read_bytes().split(b"\n")
        assert raw_lines[-1] == b"", f"{relpath} must end with a newline"
        if suffix == ".jsonl":
            for number, raw in enumerate(raw_lines[:-1], start=1):
                try:
                    record = json.loads(raw)
                except ValueError:
                    record = None
                if isinstance(record, dict):
                    lines.append(Line(relpath, number, record))
                else:
                    lines.append(Line(relpath, number, None, "invalid_json"))
            continue
        delimiter = "," if suffix == ".csv" else "\t"
        header = raw_lines[0].decode().split(delimiter)
        for number, raw in enumerate(raw_lines[1:-1], start=2):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                lines.append(Line(relpath, number, None, "invalid_utf8"))
                continue
            fields = next(csv.reader([text])) if suffix == ".csv" else text.split("\t")
            if len(fields) != len(header):
                kind = "extra_field" if len(fields) > len(header) else "missing_field"
                lines.append(Line(relpath, number, None, kind))
            else:
                lines.append(Line(relpath, number, dict(zip(header, fields, strict=True))))
    return lines


def usable(lines: list[Line]) -> list[dict]:
    """Records a warehouse would load: parsed, labelled from the label set, with text."""
    return [
        {**line.record, "_source": line.source, "_distribution": line.distribution}
        for line in lines
        if line.record and line.record["sentiment"] in LABELS and line.record["text"]
    ]


def normalised(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, DemoDataSummary]:
    root = tmp_path_factory.mktemp("landing")
    return root, generate_demo_data(root)


@pytest.fixture(scope="module")
def summary(generated) -> DemoDataSummary:
    return generated[1]


@pytest.fixture(scope="module")
def lines(generated) -> list[Line]:
    return parse_landing(generated[0])


@pytest.fixture(scope="module")
def records(lines) -> list[dict]:
    return usable(lines)


@pytest.fixture(scope="module")
def examples():
    return build_demo_examples()


# ------------------------------------------------------------------------------------------
# Determinism and idempotence


def test_the_same_seed_writes_byte_identical_files(tmp_path, generated):
    generate_demo_data(tmp_path / "again", seed=7)
    assert digests(tmp_path / "again") == digests(generated[0])


def test_a_different_seed_writes_different_data_to_the_same_file_names(tmp_path, generated):
    generate_demo_data(tmp_path / "other", seed=8)
    ours, theirs = digests(generated[0]), digests(tmp_path / "other")
    assert ours.keys() == theirs.keys()
    assert all(ours[name] != theirs[name] for name in ours)


def test_rerunning_overwrites_the_same_files_and_leaves_correct_ones_untouched(tmp_path):
    first = generate_demo_data(tmp_path, **SMALL)
    assert set(first.files_changed) == set(first.files)
    for path in first.files:
        os.utime(path, (1_000_000, 1_000_000))
    correct = digests(tmp_path)
    broken = first.files[0]
    broken.write_bytes(b"review_id\n")

    second = generate_demo_data(tmp_path, **SMALL)

    assert second.files == first.files
    assert second.files_changed == (broken,)
    assert digests(tmp_path) == correct  # repaired, and no new (or temporary) files
    assert [p.stat().st_mtime for p in first.files[1:]] == [1_000_000] * (len(first.files) - 1)
    assert second == DemoDataSummary(**{**first.__dict__, "files_changed": (broken,)})


def test_the_examples_helper_describes_exactly_the_well_formed_rows_written(
    summary, lines, examples
):
    planted = {(row.path, row.line) for row in summary.planted}
    written = sorted(
        (line.path, line.record["review_id"], line.record["text"])
        for line in lines
        if (line.path, line.line) not in planted
    )
    assert sorted((e.path, e.values["review_id"], e.values["text"]) for e in examples) == written
    assert sum(summary.valid_rows.values()) == len(examples) == 6000 + 3000


# ------------------------------------------------------------------------------------------
# Sources, formats and columns


def test_each_source_is_written_in_its_own_formats(generated, summary):
    root, _ = generated
    found = defaultdict(list)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        found[path.parent.name].append(path.suffix)
    assert dict(found) == {
        "app_reviews": [".jsonl", ".jsonl"],
        "partner_feed": [".parquet"],
        "web_reviews": [".csv", ".csv", ".csv", ".tsv"],
    }
    assert sorted(summary.files) == sorted(p for p in root.rglob("*") if p.is_file())
    assert CONFIG.target_sources == ("app_reviews",)
    assert [CONFIG.distribution_of(s) for s in found] == ["target", "training", "training"]


def test_every_file_reads_in_duckdb_with_exactly_the_configured_string_columns(summary):
    con = duckdb.connect()
    for path in summary.files:
        name = str(path).replace("'", "''")
        if path.suffix == ".csv":
            reader = f"read_csv('{name}', header=true, all_varchar=true, ignore_errors=true)"
        elif path.suffix == ".tsv":
            reader = (
                f"read_csv('{name}', header=true, all_varchar=true, delim='\\t', quote='', "
                "escape='', ignore_errors=true)"
            )
        elif path.suffix == ".jsonl":
            reader = f"read_json('{name}', format='newline_delimited', ignore_errors=true)"
        else:
            reader = f"read_parquet('{name}')"
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
        assert [row[0] for row in described] == COLUMNS, path.name
        assert {row[1] for row in described} == {"VARCHAR"}, path.name
        # Fetch every column: count(*) alone lets DuckDB skip validating unread fields. An
        # ignored JSON error still yields a row, of nulls only.
        fetched = con.execute(f"SELECT * FROM {reader}").fetchall()
        rows = sum(any(value is not None for value in row) for row in fetched)
        relpath = f"{path.parent.name}/{path.name}"
        unparsable = sum(
            1 for row in summary.planted if row.path == relpath and row.kind in SYNTAX_KINDS
        )
        assert rows == summary.rows_per_file[relpath] - unparsable, path.name


def test_csv_files_quote_fields_with_commas_and_quotes_and_tsv_files_never_quote(lines, generated):
    root, _ = generated
    csv_texts = [ln.record["text"] for ln in lines if ln.record and ln.path.endswith(".csv")]
    assert sum('"' in t for t in csv_texts) >= 5 and sum("," in t for t in csv_texts) >= 100
    raw_csv = (root / "web_reviews" / "web-2024-02.csv").read_text(encoding="utf-8")
    assert '""premium""' in raw_csv  # an embedded quote is doubled inside a quoted field
    tsv = [ln for ln in lines if ln.path.endswith(".tsv")]
    assert any(ln.record and '"' in ln.record["text"] for ln in tsv)  # kept as plain text
    assert all("\r" not in t and "\n" not in t for t in csv_texts)


# ------------------------------------------------------------------------------------------
# Planted malformed rows


def test_duckdb_rejects_exactly_the_planted_csv_and_tsv_lines(summary):
    con = duckdb.connect()
    for path in summary.files:
        if path.suffix not in (".csv", ".tsv"):
            continue
        dialect = "" if path.suffix == ".csv" else ", delim='\\t', quote='', escape=''"
        con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
        con.execute(
            f"SELECT * FROM read_csv('{path}', header=true, all_varchar=true, "
            f"strict_mode=true, store_rejects=true{dialect})"
        ).fetchall()
        rejected = {
            (line, DUCKDB_ERRORS.get(error, error))
            for line, error in con.execute("SELECT line, error_type FROM reject_errors").fetchall()
        }
        relpath = f"{path.parent.name}/{path.name}"
        planted = {
            (row.line, row.kind)
            for row in summary.planted
            if row.path == relpath and row.kind in SYNTAX_KINDS
        }
        assert rejected == planted, relpath
        assert planted, f"{relpath} should have at least one unparsable line"


def test_plain_parsing_finds_exactly_the_planted_unparsable_lines(lines, summary):
    found = {(ln.path, ln.line, ln.error) for ln in lines if ln.error}
    planted = {(r.path, r.line, r.kind) for r in summary.planted if r.kind in SYNTAX_KINDS}
    assert found == planted
    assert {kind for _, _, kind in found} == SYNTAX_KINDS


def test_label_text_and_id_problems_are_exactly_the_planted_ones(lines, summary) -> None:
    found = set()
    first_seen: dict[str, tuple[str, str]] = {}
    for ln in lines:
        if not ln.record:
            continue
        record, where = ln.record, (ln.path, ln.line)
        if record["sentiment"] in ("", None):
            found.add((*where, "missing_label"))
        elif record["sentiment"] not in LABELS:
            found.add((*where, "unknown_label"))
        elif not record["text"]:
            found.add((*where, "empty_text"))
        review_id = record["review_id"]
        if review_id in first_seen:
            original_path, original_text = first_seen[review_id]
            assert record["text"] != original_text, "a duplicate id must carry different content"
            same_file = original_path == ln.path
            found.add(
                (*where, "duplicate_id_within_file" if same_file else "duplicate_id_across_files")
            )
        else:
            first_seen[review_id] = (ln.path, record["text"])
    planted = {(r.path, r.line, r.kind) for r in summary.planted if r.kind not in SYNTAX_KINDS}
    assert found == planted
    assert {r.review_id for r in summary.planted if r.kind.startswith("duplicate")} <= set(
        first_seen
    )


def test_a_few_malformed_rows_of_every_kind_are_planted_far_below_the_reject_threshold(summary):
    assert 10 <= summary.malformed_total <= 20
    assert list(summary.malformed) == list(MALFORMED_KINDS)
    assert all(count >= 1 for count in summary.malformed.values())
    assert Counter(row.kind for row in summary.planted) == summary.malformed
    per_file = Counter(row.path for row in summary.planted)
    assert set(per_file) == set(summary.rows_per_file)  # spread over every file
    for relpath, rows in summary.rows_per_file.items():
        # A within-file duplicate id also costs its original, so count those twice.
        doubled = sum(
            1 for r in summary.planted if r.path == relpath and r.kind == "duplicate_id_within_file"
        )
        assert (per_file[relpath] + doubled) / rows < CONFIG.quality.max_batch_reject_rate / 10


def test_review_and_user_ids_look_right_and_only_planted_duplicates_repeat(lines, summary):
    ids = [ln.record["review_id"] for ln in lines if ln.record]
    assert all(re.fullmatch(r"(web|pf|app)-\d{6}", i) for i in ids)
    assert all(re.fullmatch(r"u\d{4,}", ln.record["user_id"]) for ln in lines if ln.record)
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    duplicates = sorted(r.review_id for r in summary.planted if r.kind.startswith("duplicate"))
    assert repeated == duplicates and len(duplicates) == 4


# ------------------------------------------------------------------------------------------
# Two distributions, slices, groups, near-duplicates and noise


def shares(records: list[dict], column: str) -> dict[str, dict[str, float]]:
    by_distribution: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        by_distribution[record["_distribution"]][record[column]] += 1
    return {
        d: {value: n / sum(counts.values()) for value, n in counts.items()}
        for d, counts in by_distribution.items()
    }


def test_target_reviews_are_shorter_more_mobile_and_more_negative_than_training(records):
    channel = shares(records, "channel")
    assert channel["target"].get("ios", 0) + channel["target"].get("android", 0) > 0.9
    assert channel["training"]["desktop"] > 0.5 > channel["target"].get("desktop", 0)
    length = shares(records, "length_bucket")
    assert length["target"]["short"] > 0.35 > 0.2 > length["training"]["short"]
    assert length["training"]["long"] > 0.35 > 0.15 > length["target"]["long"]
    words = defaultdict(list)
    for record in records:
        words[record["_distribution"]].append(len(record["text"].split()))
    assert statistics.median(words["target"]) * 2 < statistics.median(words["training"])
    label = shares(records, "sentiment")
    assert 0.45 < label["training"]["positive"] < 0.55
    assert 0.35 < label["target"]["positive"] < 0.45


def test_the_category_mix_differs_between_the_distributions(records):
    category = shares(records, "product_category")
    assert (
        set(category["training"])
        == set(category["target"])
        == {
            "electronics",
            "books",
            "home",
            "grocery",
            "toys",
        }
    )
    distance = sum(abs(category["training"][c] - category["target"][c]) for c in category["target"])
    assert distance / 2 > 0.25  # total variation distance
    assert category["target"]["grocery"] > 3 * category["training"]["grocery"]


def test_length_bucket_follows_the_word_count(records):
    for record in records:
        words = len(record["text"].split())
        expected = "short" if words <= 12 else "medium" if words <= 40 else "long"
        assert record["length_bucket"] == expected, record["text"]


def test_most_reviews_are_english_and_a_few_spanish_or_german_ones_are_harder(records, examples):
    language = Counter(record["language"] for record in records)
    total = sum(language.values())
    assert set(language) == {"en", "es", "de"}
    assert language["en"] / total > 0.93
    assert 0.005 < language["es"] / total < 0.05 and 0.005 < language["de"] / total < 0.05
    spanish = [e.values["text"] for e in examples if e.values["language"] == "es"]
    assert any(re.search(r"\b(muy|calidad|compré)\b", t.lower()) for t in spanish)


def test_users_write_several_reviews_that_share_their_habits(records):
    by_user = defaultdict(list)
    for record in records:
        by_user[record["user_id"]].append(record)
    sizes = Counter(len(rows) for rows in by_user.values())
    assert sum(n * k for k, n in sizes.items() if k >= 3) / len(records) > 0.6
    assert max(sizes) >= 10
    regulars = [rows for rows in by_user.values() if len(rows) >= 4]
    for column, at_least in (("product_category", 0.6), ("channel", 0.75), ("language", 0.95)):
        modal = [
            Counter(r[column] for r in rows).most_common(1)[0][1] / len(rows) for rows in regulars
        ]
        assert statistics.mean(modal) > at_least, column
    crossing = [u for u, rows in by_user.items() if len({r["_distribution"] for r in rows}) > 1]
    assert crossing == []  # training and target users are different people


def test_near_duplicates_differ_only_in_case_punctuation_or_whitespace_within_and_across_sources(
    records, summary
):
    by_key = defaultdict(list)
    for record in records:
        by_key[normalised(record["text"])].append(record)
    clusters = [rows for rows in by_key.values() if len(rows) > 1]
    assert all(len({r["text"] for r in rows}) == len(rows) for rows in clusters)
    pairs = {frozenset(r["review_id"] for r in rows) for rows in clusters}
    assert pairs == {frozenset(pair) for pair in summary.near_duplicates}  # nothing unplanted
    sources = [tuple(sorted({r["_source"] for r in rows})) for rows in clusters]
    assert sum(len(s) == 1 for s in sources) >= 10
    assert sum(len(s) == 2 for s in sources) >= 10
    assert sum(len({r["_distribution"] for r in rows}) == 2 for rows in clusters) >= 5
    same_user = [rows for rows in clusters if len({r["user_id"] for r in rows}) == 1]
    assert 0 < len(same_user) < len(clusters)


def test_about_three_percent_of_labels_are_flipped_and_more_in_the_hard_slices(examples, summary):
    flipped = Counter(e.source for e in examples if e.label_flipped)
    assert dict(flipped) == summary.labels_flipped
    assert 0.02 < sum(flipped.values()) / len(examples) < 0.045

    def noise(subset):
        return sum(e.label_flipped for e in subset) / len(subset)

    easy = [e for e in examples if e.style == "plain" and e.values["language"] == "en"]
    hard = [
        e
        for e in examples
        if e.style in ("mixed", "sarcastic", "vague") or e.values["language"] != "en"
    ]
    assert len(hard) > 500
    assert noise(hard) > 3 * noise(easy)


def test_sarcasm_and_vague_short_texts_concentrate_in_electronics(examples):
    def share(style, category, label=None, length=None):
        rows = [
            e
            for e in examples
            if e.values["product_category"] == category
            and e.values["language"] == "en"
            and (label is None or e.true_sentiment == label)
            and (length is None or e.values["length_bucket"] == length)
        ]
        return sum(e.style == style for e in rows) / len(rows)

    for other in ("books", "home", "grocery", "toys"):
        assert share("sarcastic", "electronics", "negative") > 4 * share(
            "sarcastic", other, "negative"
        )
        assert share("vague", "electronics", length="short") > 1.3 * share(
            "vague", other, length="short"
        )
    sarcastic = [e.values["text"] for e in examples if e.style == "sarcastic"]
    positive_words = re.compile(r"\b(great|perfect|love|amazing|best|wonderful|brilliant)\b", re.I)
    assert sum(bool(positive_words.search(t)) for t in sarcastic) / len(sarcastic) > 0.7


# ------------------------------------------------------------------------------------------
# Command line, arguments and speed


def test_the_command_line_writes_the_files_and_prints_the_summary(tmp_path, capsys):
    assert (
        main([str(tmp_path / "cli"), "--seed", "3", "--n-training", "600", "--n-target", "300"])
        == 0
    )
    printed = capsys.readouterr().out
    expected = generate_demo_data(tmp_path / "api", seed=3, **SMALL)
    assert digests(tmp_path / "cli") == digests(tmp_path / "api")
    assert f"Malformed rows planted ({expected.malformed_total})" in printed
    assert "web_reviews/web-2024-04.tsv" in printed
    assert f"app_reviews {expected.rows_written['app_reviews']:,}" in printed


def test_the_module_runs_as_a_script(tmp_path):
    sizes = ["--n-training", "600", "--n-target", "300"]
    completed = subprocess.run(
        [sys.executable, "-m", "bayesline.demo", str(tmp_path), "--seed", "5", *sizes],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Rows per source: web_reviews" in completed.stdout
    assert len(digests(tmp_path)) == 7


def test_the_command_line_refuses_too_few_rows_with_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), "--n-target", "5"])
    assert exit_info.value.code == 2
    assert "n_target at least" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_sizes_too_small_for_the_planted_rows_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_training must be at least"):
        generate_demo_data(tmp_path, n_training=50)
    with pytest.raises(TypeError, match="seed must be an int"):
        generate_demo_data(tmp_path, seed="7")
    with pytest.raises(TypeError, match="n_target must be an int"):
        generate_demo_data(tmp_path, n_target=3000.0)
    assert not any(tmp_path.iterdir())
