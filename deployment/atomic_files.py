"""The one way Bayesline replaces a file or renames a finished folder into place: readers see
the old one or the new one, never a part, and the change survives a power cut.

It lives in deployment/, the lowest package (it imports none of the others), so that every
package may use it: the lake's writers (warehouse/storage), labeling, handoff and the demo.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_directory(folder: Path) -> None:
    """Make the names in `folder` (a rename into it) durable."""
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def rename_durably(source: Path, target: Path) -> None:
    """Rename the finished file or folder `source` to `target` (atomic on one filesystem),
    then fsync the folder holding `target` so the rename itself survives a power cut."""
    os.replace(source, target)
    fsync_directory(target.parent)


def staging_path(final: Path) -> Path:
    """A hidden sibling of `final` that no lake glob or landing scan matches."""
    return final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"


@contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """The caller makes the file at the yielded staging path beside `final`; then it is
    fsynced and renamed over `final` durably. On an error the staging file is removed and
    `final` is left as it was."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(final)
    try:
        yield staging
        with open(staging, "rb") as made:
            os.fsync(made.fileno())
        rename_durably(staging, final)
    finally:
        staging.unlink(missing_ok=True)


def write_bytes_atomically(final: Path, content: bytes) -> Path:
    """Write `content` to `final` (a chart, a report): readers see the old file or the new one."""
    with atomic_file(final) as staging:
        staging.write_bytes(content)
    return final


def write_text_atomically(final: Path, text: str, *, private: bool = False) -> Path:
    """Write `text` (UTF-8) to `final` atomically; a `private` file is readable by its owner
    only (mode 0600) from the moment it exists."""
    with atomic_file(final) as staging:
        if private:
            descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
        else:
            staging.write_text(text, encoding="utf-8")
    return final
