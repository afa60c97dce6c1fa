"""`bayesline export`: a verified split version as a self-contained folder for other tools and
other machines, which `datasets.load_dataset(DIR)` opens as is.

The folder is built beside its destination under a hidden name and renamed into place, so a
reader never sees half an export; `force` swaps out an existing folder the same way. Formats:
- parquet: the published rows, label as text (the card types it as a ClassLabel);
- jsonl: the same rows as JSON lines;
- hf: Parquet as `datasets` writes it: the label stored as its class id, the features in the
  files' own schema metadata, so a lone file opens with its ClassLabel too.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from deployment.atomic_files import rename_durably
from handoff.card import ExportedFile, ExportedFiles, render_card
from handoff.card_chart import split_sizes_chart
from handoff.card_facts import gather_facts
from handoff.hf import hf_features
from handoff.loading import SplitBatches
from handoff.pinning import HandoffError, PinnedVersion, pin_version
from warehouse.config import BayeslineConfig
from warehouse.hashing import file_sha256, quote_literal
from warehouse.layout import WarehouseLayout
from warehouse.split_names import SPLITS
from warehouse.storage import capped_connection

EXPORT_FORMATS = {"parquet": "parquet", "jsonl": "jsonl", "hf": "parquet"}  # format -> suffix


class ExportError(HandoffError):
    """The export cannot be written as asked; the message says what to do."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    version: int
    format: str
    files: ExportedFiles

    @property
    def message(self) -> str:
        sizes = ", ".join(f"{s} {f['rows']:,}" for s, f in self.files.items())
        return (
            f"exported split v{self.version} ({self.format}: {sizes}) to {self.path}; "
            f"its data card is {self.path / 'README.md'}"
        )


def export_version(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    version: int | str,
    out: Path,
    fmt: str = "parquet",
    force: bool = False,
    now: datetime | None = None,
) -> ExportResult:
    """Verify a version and write it, with its data card, to the folder `out`."""
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format '{fmt}': use {', '.join(EXPORT_FORMATS)}")
    out = Path(out).resolve()
    _check_destination(out, force)
    pinned = pin_version(layout, version)
    staging = out.parent / f".{out.name}.{uuid.uuid4().hex}.tmp"
    try:
        files = _write_folder(layout, config, pinned, staging, fmt, now or datetime.now(UTC))
        _put_in_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out, pinned.version, fmt, files)


def _check_destination(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file, not a folder: choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError(
            f"{out} exists and is not empty: choose another --out, or add --force to replace "
            "it (the old folder is swapped out whole)"
        )


def _write_folder(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    pinned: PinnedVersion,
    staging: Path,
    fmt: str,
    now: datetime,
) -> ExportedFiles:
    (staging / "data").mkdir(parents=True)
    files: ExportedFiles = {
        split: _write_split(layout, config, pinned, staging, split, fmt) for split in SPLITS
    }
    schema = pq.read_schema(pinned.split_file("train"), filesystem=pinned.filesystem)
    facts = gather_facts(layout, config, pinned)
    card = render_card(facts, schema, files, fmt, now)
    (staging / "README.md").write_text(card, encoding="utf-8")
    (staging / "split_sizes.png").write_bytes(split_sizes_chart(facts))
    sums = "".join(f"{f['sha256']}  {f['path']}\n" for f in files.values())
    (staging / "checksums.sha256").write_text(sums, encoding="utf-8")
    return files


def _write_split(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    pinned: PinnedVersion,
    staging: Path,
    split: str,
    fmt: str,
) -> ExportedFile:
    relative = f"data/{split}-00000-of-00001.{EXPORT_FORMATS[fmt]}"
    target = staging / relative
    if fmt == "hf":
        rows = _write_hf_parquet(config, pinned, split, target)
    else:
        rows = _copy_with_duckdb(layout, pinned.split_file(split), target, fmt)
    return {
        "path": relative,
        "rows": rows,
        "bytes": target.stat().st_size,
        "sha256": file_sha256(target),
    }


def _copy_with_duckdb(layout: WarehouseLayout, source: str, target: Path, fmt: str) -> int:
    """Stream one split file to Parquet or JSON lines (DuckDB under the memory cap)."""
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT json"
    with capped_connection(layout.scratch) as con:
        layout.store.register(con)  # the version may be on object storage
        copied = con.execute(
            f"COPY (SELECT * FROM read_parquet({quote_literal(str(source))})) "
            f"TO {quote_literal(str(target))} ({options})"
        ).fetchone()
    return int(copied[0]) if copied else 0  # COPY returns the rows it wrote


def _write_hf_parquet(
    config: BayeslineConfig, pinned: PinnedVersion, split: str, target: Path
) -> int:
    """Row group by row group: the label cast to its class id, the features in the schema."""
    batches = SplitBatches(pinned, split)
    features = hf_features(batches.schema, config.dataset.labels)  # says how to install it
    from datasets.table import table_cast  # type: ignore[import-untyped]  # untyped package

    schema = features.arrow_schema
    rows = 0
    with pq.ParquetWriter(target, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_table(table_cast(pa.Table.from_batches([batch]), schema))
            rows += batch.num_rows
    return rows


def _put_in_place(staging: Path, out: Path) -> None:
    """Rename the finished folder into place; an existing one is renamed aside first and
    removed only once the new one is in."""
    if not out.exists():
        rename_durably(staging, out)
        return
    aside = out.parent / f".{out.name}.replaced-{uuid.uuid4().hex}"
    os.rename(out, aside)
    try:
        rename_durably(staging, out)
    except BaseException:
        os.rename(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)
