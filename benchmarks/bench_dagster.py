"""What Dagster costs on top of the library: loading the code location, and whole runs.

`dagster_code_location_load` times a fresh interpreter loading the Definitions the way the code
server behind `dagster dev` does (target: under 3 s). `dagster_end_to_end` materialises every
asset and check of the pipeline job through Dagster's own executor, on a DagsterInstance in its
own DAGSTER_HOME, over `rows` rows of landing files; `dagster_fixed_overhead` does the same run
on 1,000 rows, so imports, run set-up and the event log show apart from the work that grows
with the data. Both runs get their own BAYESLINE_HOME, away from the other groups' warehouse.
No Label Studio runs, so the labeling assets find it off and record nothing, as on a laptop
without one; the built-in baseline model is trained, evaluated and diagnosed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import bench_pipeline
from benchmarks.measure import StageSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_ROWS = 1_000
LOAD_TARGET_S = 3.0
# What the code server behind `dagster dev` does on start: import the module, build and fully
# load the repository, and serialise its snapshot for the webserver (a private API, pinned by
# our dagster requirement).
LOAD_SCRIPT = """
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from assets.definitions import defs

repository = defs.get_repository_def()
repository.load_all_definitions()
serialize_value(RepositorySnap.from_def(repository))
"""

SPECS = [
    StageSpec("dagster_code_location_load", "benchmarks.bench_dagster:dagster_code_location_load"),
    StageSpec("dagster_fixed_overhead", "benchmarks.bench_dagster:dagster_fixed_overhead"),
    StageSpec("dagster_end_to_end", "benchmarks.bench_dagster:dagster_end_to_end"),
]


def prepare(work_dir: Path, rows: int) -> None:
    """Two separate homes, each with its landing files, config file and Dagster instance."""
    for home, n in ((_home(work_dir, "full"), rows), (_home(work_dir, "tiny"), TINY_ROWS)):
        bench_pipeline.prepare(home, n)
        (home / "bayesline.toml").write_text(toml_text(bench_pipeline.BENCH_CONFIG))
        (home / "dagster_home").mkdir(exist_ok=True)
        shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster_home" / "dagster.yaml")


def _home(work_dir: Path, name: str) -> Path:
    return work_dir / "dagster" / name


def toml_text(config: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """TOML for a config of tables, strings, numbers and lists (JSON spells those alike)."""
    lines = [f"[{'.'.join(prefix)}]"] if prefix else []
    lines += [f"{k} = {json.dumps(v)}" for k, v in config.items() if not isinstance(v, dict)]
    text = "\n".join(lines) + "\n"
    for key, table in config.items():
        if isinstance(table, dict):
            text += "\n" + toml_text(table, (*prefix, key))
    return text


def dagster_code_location_load(work_dir: Path, rows: int) -> dict:
    """A fresh interpreter loading the code location; rows mean nothing here."""
    bare = _python_seconds("import dagster")
    seconds = _python_seconds(LOAD_SCRIPT)
    return {
        "seconds": seconds,
        "rows": 1,
        "target_seconds": LOAD_TARGET_S,
        "import_dagster_seconds": round(bare, 3),
    }


def _python_seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
    return time.perf_counter() - started


def dagster_end_to_end(work_dir: Path, rows: int) -> dict:
    return _materialize(_home(work_dir, "full"))


def dagster_fixed_overhead(work_dir: Path, rows: int) -> dict:
    return {**_materialize(_home(work_dir, "tiny")), "rows": TINY_ROWS}


def _materialize(home: Path) -> dict:
    """The whole pipeline job through Dagster, imports included (this process is the stage's)."""
    for variable in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"):
        os.environ.pop(variable, None)  # labeling stays off: no Label Studio is started here
    os.environ.update(
        BAYESLINE_HOME=str(bench_pipeline.bench_layout(home).home),
        BAYESLINE_CONFIG=str(home / "bayesline.toml"),
        DAGSTER_HOME=str(home / "dagster_home"),
        GX_ANALYTICS_ENABLED="false",
    )
    from assets.run import materialize_pipeline

    outcome = materialize_pipeline(log_level="WARNING")
    failed = [f"{e.name}: {e.detail.strip()}" for e in outcome.events if e.kind == "failed"]
    if not outcome.success:
        raise RuntimeError(f"the Dagster run failed: {'; '.join(failed) or 'see its event log'}")
    kinds = [e.kind for e in outcome.events]
    return {"assets": kinds.count("materialized"), "checks": kinds.count("check")}
