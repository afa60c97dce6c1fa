"""Number and date slice columns read as ranges; a text column with too many values is refused.

A support-ticket dataset of our own (not the demo's): customer_age (whole numbers, some
missing), tenure_days (decimals), signup_date (dates), n_seats (three values), plan (text).
It is landed as a user would land it and run through Dagster with `bayesline materialize`.
Sensor readings (half of them exactly 0) with timestamps test ties and times of day.
"""

from __future__ import annotations

import copy
import csv
import io
import random
import re
from datetime import date, datetime, timedelta

import duckdb
import pytest
from typer.testing import CliRunner

from bayesline.cli import app
from labeling.queue import select_baseline_examples
from tests.conftest import SMALL_CONFIG, write_csv
from warehouse.catalog import open_reader
from warehouse.config import load_config, parse_config
from warehouse.ingest import ingest_landing_files
from warehouse.slice_bins import SliceColumnError, slice_columns_of_version
from warehouse.splits import publish_split_version, version_path

pytestmark = pytest.mark.slow
runner = CliRunner()

HEADER = [
    "ticket_id",
    "customer",
    "outcome",
    "body",
    "customer_age",
    "tenure_days",
    "signup_date",
    "n_seats",
    "plan",
    "subject",
]
NUMERIC = ("customer_age", "tenure_days", "signup_date")
MIN_SLICE_SIZE = 25
WORDS = {"escalated": ["refund", "outage", "broken", "angry"], "solved": ["thanks", "howto"]}


def config_toml(slices: str = "", slice_columns: tuple[str, ...] = ()) -> str:
    columns = slice_columns or (*NUMERIC, "n_seats", "plan")
    return f"""
[dataset]
name = "support-tickets"
id_column = "ticket_id"
label_column = "outcome"
labels = ["escalated", "solved"]
text_columns = ["body"]
group_column = "customer"
slice_columns = {list(columns)!r}

[sources]
target = ["helpdesk"]

[splits]
salt = "tickets-salt"

[splits.target]
train = 0.4
dev = 0.3
test = 0.3

[splits.training]
train = 0.8
train_dev = 0.2

[evaluation]
min_slice_size = {MIN_SLICE_SIZE}
slice_pairs = true

{slices}
"""


def tickets(source: str, n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        outcome = "escalated" if rng.random() < 0.4 else "solved"
        word = rng.choice(WORDS[outcome] if rng.random() < 0.8 else WORDS["solved"])
        age = "" if i % 29 == 0 else str(rng.randint(18, 79))
        signup = date(2023, 1, 1) + timedelta(days=rng.randrange(700))
        rows.append(
            [
                f"{source}-{i}",
                f"{source}-customer-{i}",
                outcome,
                f"{word} about order {rng.randrange(10_000)} from {source}",
                age,
                f"{rng.uniform(0, 2_000):.2f}",
                signup.isoformat(),
                str(rng.choice([1, 5, 20])),
                rng.choice(["free", "pro", "team"]),
                f"ticket subject {source} {i}",  # one value per ticket
            ]
        )
    return rows


@pytest.fixture
def landed(layout, tmp_path, monkeypatch):
    """The user's own files in the landing folders; returns a function writing the config."""
    write_csv(layout.landing / "helpdesk" / "export.csv", tickets("helpdesk", 1_000, 1), HEADER)
    write_csv(layout.landing / "email" / "archive.csv", tickets("email", 400, 2), HEADER)

    def with_config(text: str):
        path = tmp_path / "bayesline.toml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("BAYESLINE_CONFIG", str(path))
        return layout

    return with_config


def bayesline(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def sql(query: str) -> list[dict]:
    result = bayesline("sql", query, "--format", "csv")
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_number_and_date_columns_become_a_handful_of_ranges_with_one_set_of_edges(landed):
    layout = landed(config_toml())
    assert bayesline("materialize", "--select", "*slice_metrics").exit_code == 0
    bins = sql("SELECT * FROM slice_bins WHERE split_version = 1")
    kinds = {b["slice_column"]: b["kind"] for b in bins}
    assert kinds == {
        "customer_age": "number",
        "tenure_days": "number",
        "signup_date": "date",
        "n_seats": "number",
        "plan": "text",
    }
    metrics = sql("SELECT * FROM slice_metrics WHERE model_version LIKE 'baseline%'")
    for column in NUMERIC:
        ranges = [b["slice_value"] for b in bins if b["slice_column"] == column]
        assert 2 <= len(ranges) <= 5, (column, ranges)
        assert ranges[-1].endswith("]") and all(r.endswith(")") for r in ranges[:-1])
        for split in ("train", "train_dev", "dev", "test"):
            seen = {
                m["slice_value"]
                for m in metrics
                if m["slice_column"] == column and m["split"] == split
            }
            assert seen <= {*ranges, "(missing)"}, (column, split, seen)
            assert len(seen - {"(missing)"}) >= 2
        # Each range holds what its edges say, recounted by hand from the split files.
        for b in (b for b in bins if b["slice_column"] == column):
            cast = "DOUBLE" if kinds[column] == "number" else "DATE"
            value = f"TRY_CAST({column} AS {cast})"
            upper = "<=" if b["upper_closed"].lower() == "true" else "<"
            [count] = sql(
                f"SELECT count(*) AS n FROM splits WHERE version = 1 AND split = 'dev' "
                f"AND {value} >= CAST('{b['lower']}' AS {cast}) "
                f"AND {value} {upper} CAST('{b['upper']}' AS {cast})"
            )
            [row] = [
                m
                for m in metrics
                if (m["slice_column"], m["slice_value"], m["split"])
                == (column, b["slice_value"], "dev")
            ]
            assert row["n"] == count["n"], str((b, row, count))
    dev_tenure = [
        int(m["n"]) for m in metrics if m["slice_column"] == "tenure_days" and m["split"] == "dev"
    ]
    assert min(dev_tenure) >= MIN_SLICE_SIZE  # each range of a continuous column can be tested
    missing_age = [m for m in metrics if m["slice_value"] == "(missing)"]
    assert {m["slice_column"] for m in missing_age} >= {"customer_age"}
    # Three seat counts stay three values; text stays text; pairs pair the ranges.
    seats = {m["slice_value"] for m in metrics if m["slice_column"] == "n_seats"}
    assert seats == {"1", "5", "20"}
    pairs = {m["slice_value"] for m in metrics if m["slice_column"] == "customer_age x plan"}
    age_ranges = {b["slice_value"] for b in bins if b["slice_column"] == "customer_age"}
    assert pairs and {p.split(" x ")[0] for p in pairs} <= age_ranges | {"(missing)"}
    assert {p.split(" x ")[1] for p in pairs} == {"free", "pro", "team"}

    # The labeling queue picks a range's examples by the same edges.
    top = [b for b in bins if b["slice_column"] == "customer_age"][-1]
    config = load_config()
    with open_reader(layout, config) as con:
        queued = select_baseline_examples(
            con, config, 1, [("customer_age", top["slice_value"], 1.0)], 1_000, overall_cap=0
        )
        in_range = con.execute(
            "SELECT example_id FROM splits WHERE version = 1 AND split IN ('dev', 'test') "
            "AND CAST(customer_age AS INTEGER) BETWEEN ? AND ?",
            [int(top["lower"]), int(top["upper"])],
        ).fetchall()
    assert {e.example_id for e in queued} == {row[0] for row in in_range}
    assert {e.slice_label for e in queued} == {f"customer_age in {top['slice_value']}"}


def test_edges_given_in_the_config_are_the_ranges_every_split_uses(landed):
    layout = landed(
        config_toml(
            """
[slices.edges]
customer_age = [30, 50]
signup_date = [2024-01-01]
"""
        )
    )
    assert bayesline("materialize", "--select", "*slice_metrics").exit_code == 0
    metrics = sql("SELECT * FROM slice_metrics WHERE split = 'dev'")
    ages = {m["slice_value"]: int(m["n"]) for m in metrics if m["slice_column"] == "customer_age"}
    dev = sql("SELECT customer_age, signup_date FROM splits WHERE version = 1 AND split = 'dev'")
    counted = {"(-inf, 30)": 0, "[30, 50)": 0, "[50, inf)": 0, "(missing)": 0}
    for row in dev:
        age = int(row["customer_age"]) if row["customer_age"] else None
        key = (
            "(missing)"
            if age is None
            else "(-inf, 30)"
            if age < 30
            else "[30, 50)"
            if age < 50
            else "[50, inf)"
        )
        counted[key] += 1
    assert ages == counted
    signups = {m["slice_value"] for m in metrics if m["slice_column"] == "signup_date"}
    assert signups == {"(-inf, 2024-01-01)", "[2024-01-01, inf)"}
    # The column without edges keeps its quantile ranges.
    tenure = {m["slice_value"] for m in metrics if m["slice_column"] == "tenure_days"}
    assert 2 <= len(tenure) <= 5 and all(v.startswith("[") for v in tenure)
    assert layout.home.exists()


def test_a_text_slice_column_with_too_many_values_is_refused_with_what_to_do(landed):
    landed(config_toml(slice_columns=("plan", "subject")))
    result = bayesline("materialize", "--select", "*slice_metrics")
    assert result.exit_code != 0
    output = " ".join(result.output.split())
    # 1,400 subjects, one per ticket: far over the limit, so estimated (HyperLogLog).
    assert re.search(r"slice column subject has about 1,[34]\d\d distinct values in split", output)
    assert "max_distinct_values = 50" in output
    assert "bin it" in output and "map it to fewer values before landing" in output
    assert "drop it from [dataset] slice_columns" in output
    assert sql("SELECT count(*) AS n FROM slice_metrics") == [{"n": "0"}]


def publish_readings(layout, rows: list[list[str]], **slices) -> tuple:
    """Land `rows` (id, reading, taken_at, label) as a user would, publish, and return the
    config and the version's slice columns by name."""
    raw = copy.deepcopy(SMALL_CONFIG)
    raw["dataset"]["slice_columns"] = ["reading", "taken_at"]
    raw["evaluation"] = {"min_slice_size": 10}
    raw["slices"] = slices
    config = parse_config(raw)
    header = ["id", "user", "label", "text", "reading", "taken_at"]
    landed = [[f"r{i}", f"u{i}", label, f"text {i}", *values] for i, *values, label in rows]
    write_csv(layout.landing / "app" / "readings.csv", landed, header)
    ingest_landing_files(layout, config)
    version = publish_split_version(layout, config).version
    assert version is not None  # the rows are new, so a version is published
    with duckdb.connect() as con:
        columns = slice_columns_of_version(con, config, version, version_path(layout, version))
    return config, version, {c.name: c for c in columns}


def readings(n: int) -> list[tuple]:
    """Half the readings are exactly 0 (a sensor at rest); times spread over one day."""
    start = datetime(2024, 5, 1, 6, 0)
    return [
        (
            i,
            "0" if i % 2 else f"{i / 7:.3f}",
            (start + timedelta(minutes=7 * i)).isoformat(sep=" "),
            "neg" if i % 3 else "pos",
        )
        for i in range(n)
    ]


def test_a_pile_of_equal_values_merges_edges_and_timestamps_bin_by_time_of_day(layout):
    config, version, columns = publish_readings(layout, readings(400))
    reading, taken_at = columns["reading"], columns["taken_at"]
    assert (reading.kind, taken_at.kind) == ("number", "timestamp")
    # Five quantile bins were asked for; zeros fill the lower half, so fewer edges remain,
    # the first range is the zeros and their neighbours, and no range is empty.
    assert 2 <= len(reading.bins()) < 5
    assert reading.bins()[0][0].startswith("[0, ")
    assert len(set(reading.edges)) == len(reading.edges)
    assert taken_at.bins()[0][0].startswith("[2024-05-01 06:00:00, ")
    with open_reader(layout, config) as con:
        counts = con.execute(
            f"SELECT {reading.value_sql()} AS v, count(*) FROM splits "
            f"WHERE version = {version} AND split = 'dev' GROUP BY v"
        ).fetchall()
    assert {v for v, _ in counts} == {label for label, *_ in reading.bins()}
    assert all(n >= 10 for _, n in counts)


def test_a_version_published_without_a_record_is_binned_the_same_on_first_use(layout):
    config, version, recorded = publish_readings(layout, readings(300))
    record = version_path(layout, version) / "_meta" / "slice_bins.parquet"
    record.chmod(0o644)
    record.unlink()  # as a version published before slice_bins existed
    with duckdb.connect() as con:
        measured = slice_columns_of_version(con, config, version, version_path(layout, version))
    assert {c.name: c for c in measured} == recorded


def test_a_column_of_codes_in_by_value_over_the_limit_says_to_bin_it(layout):
    over = r"slice column reading has about 15\d distinct values .* bin it \(remove it from"
    with pytest.raises(SliceColumnError, match=over):
        publish_readings(layout, readings(300), by_value=["reading"], max_distinct_values=10)
