import multiprocessing
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SMALL_CONFIG, write_csv
from warehouse.catalog import ReadOnlyQueryError, execute_read_only, open_reader, refresh_catalog
from warehouse.config import parse_config
from warehouse.ingest import ingest_landing_files
from warehouse.layout import WarehouseLayout
from warehouse.splits import publish_split_version

CONSISTENCY_SQL = """
    SELECT v.version, v.n_train + v.n_train_dev + v.n_dev + v.n_test AS expected, s.n
    FROM split_versions AS v
    JOIN (SELECT version, count(*) AS n FROM splits GROUP BY version) AS s USING (version)
"""


def land_batch(layout: WarehouseLayout, batch: int, rows: int) -> None:
    write_csv(
        layout.landing / ("app" if batch % 2 else "web") / f"batch{batch}.csv",
        [
            (
                f"b{batch}-{i}",
                f"u{batch}-{i % 500}",
                "pos" if i % 3 else "neg",
                f"text {batch} {i}",
                "x",
            )
            for i in range(rows)
        ],
    )


def read_while_writing(home: str, use_catalog_file: bool, stop: str, out) -> None:
    """A reader process: query until told to stop; report queries run and problems seen."""
    layout, config = WarehouseLayout(Path(home)), parse_config(SMALL_CONFIG)
    queries, problems, versions_seen = 0, [], set()
    while not Path(stop).exists():
        try:
            if use_catalog_file:
                con = duckdb.connect(str(layout.catalog_path), read_only=True)
            else:
                con = open_reader(layout, config)
            with con:
                for version, expected, n in con.execute(CONSISTENCY_SQL).fetchall():
                    versions_seen.add(version)
                    if expected != n:
                        problems.append(f"v{version}: {n} rows visible, manifest says {expected}")
            queries += 1
        except Exception as exc:  # any error, a lock error above all, is a failure
            problems.append(repr(exc))
    out.put((queries, problems[:5], sorted(versions_seen)))


def test_readers_never_see_a_lock_or_half_a_version_while_publishing(tmp_path):
    layout, config = WarehouseLayout(tmp_path / "wh").ensure(), parse_config(SMALL_CONFIG)
    land_batch(layout, 0, 3000)
    ingest_landing_files(layout, config)
    publish_split_version(layout, config)
    refresh_catalog(layout, config)
    stop = tmp_path / "stop"
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    readers = [
        context.Process(
            target=read_while_writing, args=(str(layout.home), i % 2 == 0, str(stop), results)
        )
        for i in range(4)
    ]
    for reader in readers:
        reader.start()
    try:
        time.sleep(2.0)  # let the readers import and start querying
        for batch in range(1, 5):
            land_batch(layout, batch, 3000)
            ingest_landing_files(layout, config)
            publish_split_version(layout, config)
            refresh_catalog(layout, config)
    finally:
        stop.touch()
        outcomes = [results.get(timeout=60) for _ in readers]
        for reader in readers:
            reader.join(timeout=30)
            if reader.is_alive():
                reader.terminate()
    assert all(problems == [] for _, problems, _ in outcomes), outcomes
    assert all(queries > 0 for queries, _, _ in outcomes)
    assert max(len(seen) for _, _, seen in outcomes) >= 2  # they did read during the publishes


def test_the_sql_interface_refuses_statements_that_write(layout, small_config):
    with open_reader(layout, small_config) as con:
        assert execute_read_only(con, "SELECT 1 + 1").fetchall() == [(2,)]
        for statement in (
            "CREATE TABLE t (a INT)",
            "COPY (SELECT 1) TO 'x.csv'",
            "SELECT 1; DROP VIEW examples",
        ):
            with pytest.raises(ReadOnlyQueryError, match="only reads"):
                execute_read_only(con, statement)
        assert execute_read_only(con, "SELECT count(*) FROM examples").fetchall() == [(0,)]


def test_an_empty_warehouse_still_has_every_view_with_its_columns(layout, small_config):
    refresh_catalog(layout, small_config)
    with duckdb.connect(str(layout.catalog_path), read_only=True) as con:
        columns = [r[0] for r in con.execute("DESCRIBE splits").fetchall()]
        assert columns[:3] == ["version", "split", "example_id"]
        assert con.execute("SELECT count(*) FROM split_versions").fetchone() == (0,)
