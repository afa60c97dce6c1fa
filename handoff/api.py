"""The public loading API, re-exported by `bayesline`: a split version for training code.

    from bayesline import load_split, load_splits
    dev = load_split(version=3, split="dev")             # a pyarrow.Table
    splits = load_splits("latest")                        # a datasets.DatasetDict
    for batch in iter_split_batches(3, "train"): ...      # record batches, bounded memory

Each call verifies the sha256 of every file it reads against the version's manifest first and
refuses a version whose files changed, naming the file.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pyarrow as pa

from handoff import hf
from handoff.loading import DEFAULT_BATCH_ROWS, SplitBatches, read_split_table, version_of
from handoff.pinning import HandoffError, PinnedVersion, pin_version
from warehouse.config import BayeslineConfig, load_config
from warehouse.layout import WarehouseLayout
from warehouse.split_names import SPLITS

FORMATS = ("arrow", "pandas", "polars", "hf")

__all__ = ["iter_split_batches", "load_split", "load_splits", "version_of"]


def _layout(home: str | Path | None) -> WarehouseLayout:
    return WarehouseLayout(Path(home).resolve()) if home else WarehouseLayout.from_env()


def _config(config: BayeslineConfig | str | Path | None) -> BayeslineConfig:
    return config if isinstance(config, BayeslineConfig) else load_config(config)


def _check_format(as_: str, streaming: bool) -> None:
    if as_ not in FORMATS:
        raise HandoffError(f"unknown format as_={as_!r}: use one of {', '.join(FORMATS)}")
    if streaming and as_ not in ("hf", "arrow"):
        raise HandoffError(
            f"streaming gives Arrow record batches or a datasets.IterableDataset, not {as_}: "
            "use as_='arrow' or as_='hf'"
        )


def load_split(
    version: int | str = "latest",
    split: str = "dev",
    as_: str = "arrow",
    *,
    streaming: bool = False,
    home: str | Path | None = None,
    config: BayeslineConfig | str | Path | None = None,
) -> Any:
    """One split of a published version (a number, 'v0003' or 'latest').

    as_: 'arrow' (a pyarrow.Table), 'pandas', 'polars' (if installed) or 'hf' (a
    datasets.Dataset, the label a ClassLabel). streaming=True gives record batches (arrow) or
    a datasets.IterableDataset (hf) instead, reading one row group at a time. `home` is the
    BAYESLINE_HOME (default: the environment's), `config` the bayesline.toml (likewise).
    """
    _check_format(as_, streaming)
    pinned = pin_version(_layout(home), version, [split])
    return _convert(pinned, split, as_, streaming, config)


def load_splits(
    version: int | str = "latest",
    as_: str = "hf",
    *,
    streaming: bool = False,
    home: str | Path | None = None,
    config: BayeslineConfig | str | Path | None = None,
) -> Any:
    """Every split of a version: a datasets.DatasetDict (train, train_dev, dev, test) by
    default, or a dict of split -> the form `as_` names."""
    _check_format(as_, streaming)
    pinned = pin_version(_layout(home), version)
    if as_ == "hf":
        labels = _config(config).dataset.labels
        return hf.to_dataset_dict(pinned, list(SPLITS), labels, streaming)
    return {split: _convert(pinned, split, as_, streaming, config) for split in SPLITS}


def iter_split_batches(
    version: int | str = "latest",
    split: str = "train",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    *,
    home: str | Path | None = None,
) -> SplitBatches:
    """A split as an iterable of pyarrow.RecordBatch of at most `batch_rows` rows; its
    `.version` says which version it is."""
    return SplitBatches(pin_version(_layout(home), version, [split]), split, batch_rows)


def _convert(
    pinned: PinnedVersion,
    split: str,
    as_: str,
    streaming: bool,
    config: BayeslineConfig | str | Path | None,
) -> Any:
    if as_ == "hf":
        convert = hf.to_iterable_dataset if streaming else hf.to_dataset
        return convert(pinned, split, _config(config).dataset.labels)
    if streaming:
        return SplitBatches(pinned, split)
    table = read_split_table(pinned, split)
    if as_ == "pandas":
        frame = table.to_pandas()
        frame.attrs["split_version"] = pinned.version
        frame.attrs["manifest_sha256"] = pinned.manifest_sha256
        return frame
    if as_ == "polars":
        return _to_polars(table)
    return table


def _to_polars(table: pa.Table) -> Any:
    try:
        # By name: polars is optional, and mypy need not find it to check this module.
        polars = importlib.import_module("polars")
    except ImportError as exc:
        raise ImportError(
            "as_='polars' needs polars: pip install polars, or use as_='arrow' or 'pandas'"
        ) from exc
    return polars.from_arrow(table)
