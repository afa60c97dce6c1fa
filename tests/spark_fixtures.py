"""One SparkSession in local mode for the whole test session (it takes 6-12 s to start).

Without pyspark (the `spark` extra) or Java the tests that use it skip and say why; CI sets
BAYESLINE_REQUIRE_SPARK=1, and there a missing Spark fails them instead.
"""

import os
import shutil

import pytest


def skip_without(reason: str) -> None:
    if os.environ.get("BAYESLINE_REQUIRE_SPARK"):
        pytest.fail(f"BAYESLINE_REQUIRE_SPARK is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        skip_without("pyspark is missing: install the 'spark' extra (make install does)")
    if shutil.which("java") is None:
        skip_without("Java is missing: apt-get install openjdk-17-jre-headless")

    scratch = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("bayesline-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.local.dir", str(scratch))
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()
