"""The SparkSession that split assignment and slice metrics use when BAYESLINE_ENGINE=spark.

Spark reads and writes the lake as local (or mounted) paths: there is no S3A connector here.
BAYESLINE_SPARK_MASTER names the cluster (`spark://host:7077`); unset, Spark runs in local
mode on two cores. A session already running in the process (a test's, a notebook's) is
reused, whatever its master.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from deployment.settings import java_home, spark_master
from warehouse.config import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"


class SparkUnavailableError(ConfigError):
    """BAYESLINE_ENGINE=spark, but pyspark or Java is missing; the message says what to install."""


def spark_session(scratch: Path) -> SparkSession:
    """The process's SparkSession, started with Bayesline's settings when there is none."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailableError(
            "BAYESLINE_ENGINE=spark needs pyspark: pip install -e '.[spark]' "
            "(or unset BAYESLINE_ENGINE to use DuckDB)."
        ) from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if shutil.which("java") is None and not java_home():
        raise SparkUnavailableError(
            "BAYESLINE_ENGINE=spark needs Java: apt-get install openjdk-17-jre-headless "
            "(or unset BAYESLINE_ENGINE to use DuckDB)."
        )
    scratch.mkdir(parents=True, exist_ok=True)
    return (
        SparkSession.builder.master(spark_master() or DEFAULT_MASTER)
        .appName("bayesline")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # progress bars would flood the logs
        .config("spark.local.dir", str(scratch))
        .config("spark.sql.warehouse.dir", str(scratch / "spark-warehouse"))
        # Small shuffles: the default 200 partitions cost more than they give on a few cores.
        .config("spark.sql.shuffle.partitions", str(os.cpu_count() or 2))
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
