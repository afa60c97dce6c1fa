"""Shared fixtures: every test gets its own warehouse, config and Dagster home in tmp_path."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from warehouse.config import BayeslineConfig, parse_config
from warehouse.layout import WarehouseLayout

pytest_plugins = [
    "tests.labelstudio_fixtures",
    "tests.postgres_fixtures",
    "tests.s3_fixtures",
    "tests.spark_fixtures",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASET = REPO_ROOT.parent / "shared" / "datasets" / "sentiment-labelled-sentences"

SMALL_CONFIG: dict[str, dict[str, object]] = {
    "dataset": {
        "name": "small",
        "id_column": "id",
        "label_column": "label",
        "labels": ["neg", "pos"],
        "text_columns": ["text"],
        "group_column": "user",
        "slice_columns": ["device"],
    },
    "sources": {"target": ["app"]},
    "splits": {
        "salt": "test-salt",
        "target": {"train": 0.4, "dev": 0.3, "test": 0.3},
        "training": {"train": 0.8, "train_dev": 0.2},
    },
    "quality": {"min_examples_per_split": 1},
}
SMALL_HEADER = ["id", "user", "label", "text", "device"]


def small_config_toml(**sections: dict | None) -> str:
    """SMALL_CONFIG as a bayesline.toml, for the paths that read a file (CLI, Dagster).

    Each keyword updates that section's keys (`splits={"salt": "s"}`); None leaves the
    section out.
    """
    merged = {name: dict(body) for name, body in SMALL_CONFIG.items()}
    for name, changes in sections.items():
        if changes is None:
            merged.pop(name, None)
        else:
            merged.setdefault(name, {}).update(changes)
    return "\n".join(_toml_table(name, body) for name, body in merged.items())


def one_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The row a query that always returns one (an aggregate, a lookup by key) returned."""
    row = result.fetchone()
    assert row is not None, "the query returned no row"
    return row


def _toml_table(name: str, body: dict) -> str:
    lines = [f"[{name}]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in body.items() if not isinstance(v, dict)]
    tables = [_toml_table(f"{name}.{k}", v) for k, v in body.items() if isinstance(v, dict)]
    return "\n".join(lines) + "\n" + "".join(f"\n{t}" for t in tables)


#: The slowest test modules, slowest first (measured on 2 cores). xdist hands out modules in
#: collection order, so these start first and the two workers end together instead of one
#: starting a six-minute module when the other is nearly done.
SLOWEST_MODULES = (
    "tests/test_lake_s3.py",
    "tests/browser",
    "tests/test_benchmark_groups.py",
    "tests/test_killed_runs.py",
    "tests/test_spark_publish.py",
    "tests/test_human_loop.py",
    "tests/test_labeling_loop.py",
    "tests/test_splits.py",
    "tests/test_sensor_recovery.py",
    "tests/test_batch_decisions.py",
)


def _start_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    for rank, module in enumerate(SLOWEST_MODULES):
        if path == module or path.startswith(module + "/"):
            return rank
    return len(SLOWEST_MODULES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the slowest modules first (a stable sort: each module's own order is kept)."""
    items.sort(key=_start_rank)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Keep each test module on one pytest-xdist worker (`make test` runs two).

    Module- and package-scoped fixtures build warehouses and start servers: split across
    workers, each worker would build them again. The browser tests share one Dagster UI and
    one run in the UI between their modules, so they go to one worker together. (xdist's own
    `loadgroup` marks do not reach its scheduler under pytest 9: they rename `_nodeid`, which
    pytest 9 no longer reads.)
    """
    # pytest-xdist ships no type information.
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "tests/browser" if module.startswith("tests/browser/") else module

    return ModuleScheduling(config, log)


def point_environment_at(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make `home` the warehouse and Dagster home of everything run under `monkeypatch`."""
    monkeypatch.setenv("BAYESLINE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("BAYESLINE_CONFIG", str(REPO_ROOT / "bayesline.toml"))
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "false")
    return home


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the developer's ./data or Dagster home."""
    return point_environment_at(tmp_path / "bayesline-home", monkeypatch)


@pytest.fixture
def layout(isolated_environment: Path) -> WarehouseLayout:
    return WarehouseLayout(isolated_environment).ensure()


@pytest.fixture
def small_config() -> BayeslineConfig:
    return parse_config(SMALL_CONFIG)


def write_csv(path: Path, rows: Iterable[Iterable[object]], header=SMALL_HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def shared_dataset() -> Path:
    if not SHARED_DATASET.is_dir():
        pytest.skip(f"the real dataset is absent: expected it at {SHARED_DATASET}")
    return SHARED_DATASET
