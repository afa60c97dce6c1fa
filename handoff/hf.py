"""The Hugging Face `datasets` adapter (the optional `hf` extra): a pinned version as a
Dataset, a DatasetDict or a streaming IterableDataset, with the label as a ClassLabel.

The Dataset's fingerprint comes from the version's manifest sha256, so `datasets`' caching
(`map`, `filter`) is keyed on the version's content; its `info.version` is "<split version>.0.0".
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from handoff.loading import read_split_table
from handoff.pinning import HandoffError, PinnedVersion

#: Split files hold the label as `label`, whatever the landing files call it (warehouse/schema.py).
LABEL = "label"
INSTALL_HINT = (
    "loading as Hugging Face datasets needs the `datasets` package: "
    "pip install 'bayesline[hf]' (or pip install datasets)"
)


def import_datasets() -> Any:
    try:
        import datasets  # type: ignore[import-untyped]  # datasets ships no type information
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return datasets


def hf_features(schema: pa.Schema, labels: tuple[str, ...]) -> Any:
    """The split files' columns as `datasets` Features, the label a ClassLabel over `labels`
    (the config's order, so class ids are the same in every version)."""
    datasets = import_datasets()
    features = datasets.Features.from_arrow_schema(schema.remove_metadata())
    features[LABEL] = datasets.ClassLabel(names=list(labels))
    return features


def _info(pinned: PinnedVersion, split: str, features: Any) -> Any:
    datasets = import_datasets()
    return datasets.DatasetInfo(
        description=(
            f"Bayesline split version {pinned.version}, split {split} "
            f"(manifest sha256 {pinned.manifest_sha256})"
        ),
        version=f"{pinned.version}.0.0",
        features=features,
    )


def _check_labels(table: pa.Table, labels: tuple[str, ...], where: str) -> None:
    """A label outside the config's label set would become a cryptic cast error."""
    present = set(table.column(LABEL).unique().to_pylist()) - {None}
    unknown = sorted(present - set(labels))
    if unknown:
        raise HandoffError(
            f"{where} has label(s) {', '.join(unknown)} that are not in the config's label set "
            f"({', '.join(labels)}): load it with the config it was published under"
        )


def to_dataset(pinned: PinnedVersion, split: str, labels: tuple[str, ...]) -> Any:
    """One split as an in-memory `datasets.Dataset`."""
    datasets = import_datasets()
    from datasets.table import InMemoryTable, table_cast  # type: ignore[import-untyped]

    table = read_split_table(pinned, split)
    _check_labels(table, labels, f"v{pinned.version} {split}")
    features = hf_features(table.schema, labels)
    cast = table_cast(table.replace_schema_metadata(None), features.arrow_schema)
    return datasets.Dataset(
        InMemoryTable(cast),
        info=_info(pinned, split, features),
        split=datasets.NamedSplit(split),
        fingerprint=pinned.fingerprint(split),
    )


def to_iterable_dataset(pinned: PinnedVersion, split: str, labels: tuple[str, ...]) -> Any:
    """One split as a streaming `datasets.IterableDataset`: read a row group at a time."""
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    datasets = import_datasets()
    path = pinned.split_file(split)
    features = hf_features(pq.read_schema(path), labels)
    stream = datasets.load_dataset(
        "parquet",
        data_files={split: str(path)},
        split=split,
        streaming=True,
        features=features,
        # Without it pyarrow's read-ahead buffers pile up: 1.7 GiB by the end of a 7.3M-row
        # split in the benchmark; with it memory stays flat (benchmarks/findings.md).
        fragment_scan_options=pads.ParquetFragmentScanOptions(pre_buffer=False),
    )
    stream.info.version = f"{pinned.version}.0.0"
    stream.info.description = _info(pinned, split, features).description
    return stream


def to_dataset_dict(
    pinned: PinnedVersion,
    splits: list[str],
    labels: tuple[str, ...],
    streaming: bool = False,
) -> Any:
    """Every split of a version: a DatasetDict (or an IterableDatasetDict when streaming)."""
    datasets = import_datasets()
    convert = to_iterable_dataset if streaming else to_dataset
    parts = {split: convert(pinned, split, labels) for split in splits}
    return datasets.IterableDatasetDict(parts) if streaming else datasets.DatasetDict(parts)
