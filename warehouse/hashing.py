"""Cryptographic hashing shared by Python and SQL, so every engine agrees bit for bit.

Split assignment never uses DuckDB's `hash()` or Python's `hash()`: both change between
versions. A split bucket is the first 8 hex digits of sha256(salt + US + key), read as an
unsigned integer, modulo BUCKETS; the next 8 hex digits give a second, independent draw. The
same rule is written here for Python, DuckDB and Spark SQL.
"""

from __future__ import annotations

import hashlib
from os import PathLike

BUCKETS = 10_000
FIELD_SEPARATOR = "\x1f"  # ASCII unit separator: cannot appear in a field by accident


def split_bucket(salt: str, key: str, part: int = 0) -> int:
    """The bucket in [0, BUCKETS) of one group key under a salt.

    `part` 1 reads the next 8 hex digits of the same digest: a second draw, independent of the
    first, for a choice the first bucket already constrains (dev or test for a component whose
    training examples were published in train_dev by the first).
    """
    digest = hashlib.sha256(f"{salt}{FIELD_SEPARATOR}{key}".encode()).hexdigest()
    return int(digest[8 * part : 8 * part + 8], 16) % BUCKETS


def split_bucket_sql(salt_sql: str, key_sql: str, part: int = 0) -> str:
    """The DuckDB expression computing `split_bucket` from two SQL string expressions."""
    digits = f"substr(sha256({salt_sql} || chr(31) || {key_sql}), {1 + 8 * part}, 8)"
    return f"(('0x' || {digits})::UBIGINT % {BUCKETS})"


def split_bucket_spark_sql(salt_sql: str, key_sql: str, part: int = 0) -> str:
    """The Spark SQL expression computing `split_bucket` from two Spark string expressions."""
    # Spark SQL reads '\x1f' as the three characters x1f, not the unit separator: chr(31) is
    # the one spelling that agrees with Python and DuckDB. conv() returns a string and the
    # modulo a double unless ANSI mode is on, hence the casts.
    digest = f"sha2(concat({salt_sql}, chr(31), {key_sql}), 256)"
    hex_prefix = f"substr({digest}, {1 + 8 * part}, 8)"
    return f"(CAST(conv({hex_prefix}, 16, 10) AS BIGINT) % {BUCKETS})"


def fields_hash_sql(expressions: list[str] | tuple[str, ...]) -> str:
    """sha256 over SQL string expressions joined by the unit separator (NULL hashes as empty)."""
    # concat() reads NULL as '' and builds the string in one go, unlike a chain of ||.
    return f"sha256(concat({', chr(31), '.join(expressions)}))"


def fields_hash(values: list[str | None]) -> str:
    """The Python twin of `fields_hash_sql`."""
    joined = FIELD_SEPARATOR.join(v if v is not None else "" for v in values)
    return hashlib.sha256(joined.encode()).hexdigest()


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def file_sha256(path: str | PathLike[str], chunk_size: int = 1 << 20) -> str:
    """sha256 of a file, read in chunks so large files never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
