"""Split buckets agree bit for bit in Python, DuckDB and Spark SQL, on awkward keys.

Spark runs in local mode (Debian's Java, the `spark` extra that `make test` installs), in the
session's SparkSession (tests/spark_fixtures.py); without them the test skips and says why.
"""

import random
import unicodedata

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse.hashing import split_bucket, split_bucket_spark_sql, split_bucket_sql

N_KEYS = 120_000
SALTS = ["", "demo-2026", "sälz", "🙂", "a\x1fb", "it's"]
AWKWARD_KEYS = ["", "\x00", "\x1f", "x1f", "\\x1f", "\n", "\r\n", "a\x00b", "🙂🙃", "e\u0301", "é"]


def awkward_key(rng: random.Random) -> str:
    """A key drawn from pieces that trip string handling: NUL, the separator, line breaks,
    combining marks, astral-plane emoji and plain ASCII."""
    pieces = [
        lambda: chr(rng.randint(32, 126)),
        lambda: rng.choice(["\x00", "\x1f", "\n", "\r", "\t", "'", '"', "\\"]),
        lambda: chr(rng.randint(0x1F300, 0x1FAFF)),
        lambda: chr(rng.randint(0x4E00, 0x9FFF)),
        lambda: unicodedata.normalize(rng.choice(["NFC", "NFD"]), rng.choice("éñüÅçø")),
    ]
    return "".join(rng.choice(pieces)() for _ in range(rng.randint(0, 12)))


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    rng = random.Random(20261202)
    keys = AWKWARD_KEYS + [awkward_key(rng) for _ in range(N_KEYS)]
    salts = [SALTS[i % len(SALTS)] for i in range(len(keys))]
    path = tmp_path_factory.mktemp("keys") / "keys.parquet"
    pq.write_table(pa.table({"row": range(len(keys)), "salt": salts, "key": keys}), path)
    return path, salts, keys


def test_python_duckdb_and_spark_put_every_key_in_the_same_bucket(key_file, spark):
    path, salts, keys = key_file
    in_python = [split_bucket(salt, key) for salt, key in zip(salts, keys, strict=True)]

    in_duckdb = [
        bucket
        for (bucket,) in duckdb.connect()
        .execute(
            f"SELECT {split_bucket_sql('salt', 'key')} FROM read_parquet('{path}') ORDER BY row"
        )
        .fetchall()
    ]
    rows = (
        spark.read.parquet(str(path))
        .selectExpr(
            "row",
            f"{split_bucket_spark_sql('salt', 'key')} AS bucket",
            f"{split_bucket_spark_sql('salt', 'key', part=1)} AS second",
        )
        .orderBy("row")
        .collect()
    )
    in_spark = [r["bucket"] for r in rows]
    second_in_python = [split_bucket(s, k, part=1) for s, k in zip(salts, keys, strict=True)]
    second_in_duckdb = [
        bucket
        for (bucket,) in duckdb.connect()
        .execute(
            f"SELECT {split_bucket_sql('salt', 'key', part=1)} "
            f"FROM read_parquet('{path}') ORDER BY row"
        )
        .fetchall()
    ]

    assert len(in_python) == len(keys) > 100_000
    assert in_duckdb == in_python
    assert in_spark == in_python
    # The second draw (the next 8 hex digits) agrees too, and is not the first one again.
    assert [r["second"] for r in rows] == second_in_python == second_in_duckdb
    assert sum(a == b for a, b in zip(in_python, second_in_python, strict=True)) < len(keys) / 100
    # The keys really are awkward: NUL, the separator and astral-plane characters all occur.
    assert any("\x00" in k for k in keys) and any("\x1f" in k for k in keys)
    assert any(ord(c) > 0xFFFF for k in keys for c in k)


def test_the_escaped_separator_spelling_disagrees_in_spark(key_file, spark):
    # The trap the README used to show: in Spark SQL '\x1f' is not the unit separator.
    path, salts, keys = key_file
    wrong = split_bucket_spark_sql("salt", "key").replace("chr(31)", "'\\x1f'")
    rows = spark.read.parquet(str(path)).selectExpr("row", f"{wrong} AS bucket").collect()
    differ = sum(r["bucket"] != split_bucket(salts[r["row"]], keys[r["row"]]) for r in rows)
    assert differ > 0.99 * len(keys)
