import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse.hashing import (
    BUCKETS,
    fields_hash,
    fields_hash_sql,
    quote_literal,
    split_bucket,
    split_bucket_sql,
)

text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(salt=text, keys=st.lists(text, min_size=1, max_size=20), part=st.sampled_from([0, 1]))
def test_python_and_duckdb_put_every_key_in_the_same_bucket(salt, keys, part):
    con = duckdb.connect()
    con.execute("CREATE TABLE k (key VARCHAR)")
    con.executemany("INSERT INTO k VALUES (?)", [[k] for k in keys])
    in_sql = con.execute(
        f"SELECT key, {split_bucket_sql(quote_literal(salt), 'key', part)} FROM k"
    ).fetchall()
    assert all(bucket == split_bucket(salt, key, part) for key, bucket in in_sql)
    assert all(0 <= bucket < BUCKETS for _, bucket in in_sql)


def test_the_bucket_is_a_known_sha256_value_not_a_library_hash():
    # sha256("s\x1fu0042") begins with ea441703 d0b20b25 (checked with sha256sum).
    assert split_bucket("s", "u0042") == int("ea441703", 16) % BUCKETS
    assert split_bucket("s", "u0042", part=1) == int("d0b20b25", 16) % BUCKETS


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.none(), text), min_size=1, max_size=5))
def test_field_hashes_agree_between_python_and_duckdb(values):
    con = duckdb.connect()
    names = [f"c{i}" for i in range(len(values))]
    select = ", ".join(f"CAST(? AS VARCHAR) AS {n}" for n in names)
    got = con.execute(f"SELECT {fields_hash_sql(names)} FROM (SELECT {select})", values).fetchone()
    assert got[0] == fields_hash(values)
