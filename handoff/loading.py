"""Read a pinned split version as Arrow: whole, or streamed in record batches.

A split file is read by pyarrow straight from the lake (no DuckDB connection, no copy), and
the result says which version it came from: every row has the `version` column, and the
table's schema metadata holds the version and its manifest's sha256 for a training run to log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from handoff.pinning import PinnedVersion

VERSION_KEY = b"bayesline.split_version"
MANIFEST_KEY = b"bayesline.manifest_sha256"
SPLIT_KEY = b"bayesline.split"
#: Rows per streamed batch: one batch of short texts is a few MB, whatever the split's size.
DEFAULT_BATCH_ROWS = 65_536


def version_metadata(pinned: PinnedVersion, split: str) -> dict[bytes, bytes]:
    return {
        VERSION_KEY: str(pinned.version).encode(),
        MANIFEST_KEY: pinned.manifest_sha256.encode(),
        SPLIT_KEY: split.encode(),
    }


def read_split_table(pinned: PinnedVersion, split: str) -> pa.Table:
    """The split as one Arrow table, its schema metadata naming the version."""
    table = pq.read_table(pinned.split_file(split), filesystem=pinned.filesystem)
    return table.replace_schema_metadata(
        {**(table.schema.metadata or {}), **version_metadata(pinned, split)}
    )


@dataclass(frozen=True)
class SplitBatches:
    """A split streamed as Arrow record batches, one Parquet row group at a time: memory
    holds one batch, never the split. Iterate it as often as you like."""

    pinned: PinnedVersion
    split: str
    batch_rows: int = DEFAULT_BATCH_ROWS

    @property
    def version(self) -> int:
        return self.pinned.version

    @property
    def num_rows(self) -> int:
        source = self.pinned.split_file(self.split)
        rows: int = pq.ParquetFile(source, filesystem=self.pinned.filesystem).metadata.num_rows
        return rows

    @property
    def schema(self) -> pa.Schema:
        schema = pq.read_schema(
            self.pinned.split_file(self.split), filesystem=self.pinned.filesystem
        )
        return schema.with_metadata(version_metadata(self.pinned, self.split))

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        # pre_buffer=False: pyarrow's default read-ahead kept ~200 MiB of a 3M-row file's
        # column chunks allocated by the end of the stream; without it, about one row group.
        source, filesystem = self.pinned.split_file(self.split), self.pinned.filesystem
        with pq.ParquetFile(source, pre_buffer=False, filesystem=filesystem) as handle:
            yield from handle.iter_batches(batch_size=self.batch_rows)


def version_of(loaded: object) -> int:
    """The split version a loaded object came from (an Arrow table, a pandas or polars frame,
    a `datasets` Dataset or IterableDataset, or a SplitBatches stream)."""
    if isinstance(loaded, SplitBatches):
        return loaded.version
    metadata = getattr(getattr(loaded, "schema", None), "metadata", None) or {}
    if VERSION_KEY in metadata:
        return int(metadata[VERSION_KEY])
    attrs = getattr(loaded, "attrs", None)
    if isinstance(attrs, dict) and "split_version" in attrs:
        return int(attrs["split_version"])
    columns = getattr(loaded, "columns", ())
    if hasattr(loaded, "get_column") and "version" in columns:  # polars
        return int(loaded.get_column("version")[0])
    info = getattr(loaded, "info", None)
    if info is not None and getattr(info, "version", None) is not None:
        return int(str(info.version).split(".")[0])
    raise TypeError(
        f"{type(loaded).__name__} carries no split version: pass what load_split returned"
    )
