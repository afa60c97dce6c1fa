"""Sweeping up after a writer that died: its hidden staging files and directories.

Every lake write makes a hidden `.<name>.<uuid>.tmp` first: beside its final place in a local
lake, in scratch (BAYESLINE_HOME/tmp) when it is uploaded to object storage. A writer removes
its own on any error it survives; only a killed process leaves one behind. Nothing reads it
(lake globs skip hidden names), but it takes space and looks half-written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from warehouse.layout import WarehouseLayout


def abandoned_staging(layout: WarehouseLayout, older_than: float) -> list[Path]:
    """Staging files and directories in the local lake and in scratch last changed before
    `older_than` (epoch s)."""
    found = [
        path
        for folder in (layout.lake, layout.scratch)
        if folder.is_dir()
        for path in folder.rglob(".*.tmp")
        if path.lstat().st_mtime < older_than
    ]
    # A staging directory's own staging files go with it.
    return [p for p in found if not any(parent in found for parent in p.parents)]


def remove_abandoned_staging(layout: WarehouseLayout, older_than: float) -> list[Path]:
    """Remove what `abandoned_staging` finds. Call it only when no writer can be running,
    e.g. holding the pipeline's turn with no other run in progress; returns what it removed."""
    removed = abandoned_staging(layout, older_than)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed
