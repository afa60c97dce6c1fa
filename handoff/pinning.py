"""Pin a split version: resolve `latest`, check the split names, verify the files' sha256s.

Every reader of a version for training (the loader, the stream, the export) goes through
`pin_version`, so none of them ever hands over bytes the manifest does not vouch for.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from deployment.errors import BayeslineError
from warehouse.layout import WarehouseLayout
from warehouse.split_names import SPLITS
from warehouse.splits import (
    published_versions,
    version_dir_name,
    version_location,
    version_parts,
)
from warehouse.versions import (
    InvalidVersionError,
    UnknownVersionError,
    changed_files,
    load_manifest,
    parse_version,
)

LATEST = "latest"
#: A JSON object as json.loads returns it (the manifest, raw): its values are the document's.
JsonObject = dict[str, Any]


class HandoffError(BayeslineError, ValueError):
    """A split version cannot be handed over as asked (format, labels, destination)."""


class UnknownSplitError(BayeslineError, LookupError):
    """A split name that no version has; the message lists the ones that exist."""


class TamperedVersionError(BayeslineError):
    """A published file no longer matches its manifest: the version is not loaded."""


@dataclass(frozen=True)
class PinnedVersion:
    """A published version whose files (those read) matched their manifest's sha256s."""

    version: int
    #: The version's folder: a local path, or an s3:// URL when the lake is on object storage.
    directory: str
    manifest: JsonObject
    #: sha256 of _meta/manifest.json: it covers every file's sha256, so it names the content.
    manifest_sha256: str
    #: The fsspec filesystem pyarrow opens the files with; None for the local disk.
    filesystem: object | None = None

    def split_file(self, split: str) -> str:
        return f"{self.directory}/{split}.parquet"

    def fingerprint(self, split: str) -> str:
        """A `datasets` fingerprint keyed on the version's content and the split."""
        return hashlib.sha256(f"{self.manifest_sha256}:{split}".encode()).hexdigest()[:16]


def resolve_version(layout: WarehouseLayout, version: int | str) -> int:
    """A version number from 3, '3', 'v0003' or 'latest' (the newest published version)."""
    versions = published_versions(layout)
    if str(version).strip().lower() == LATEST:
        if not versions:
            raise UnknownVersionError(
                f"no split version is published in {layout.home} yet: run `bayesline "
                "materialize` first (or point BAYESLINE_HOME at your warehouse)"
            )
        return versions[-1]
    try:
        number = parse_version(version)
    except InvalidVersionError as exc:
        raise InvalidVersionError(f"{exc}, or {LATEST} for the newest") from exc
    if number not in versions:
        load_manifest(layout, number)  # raises, listing the published versions
    return number


def check_split_names(splits: list[str]) -> list[str]:
    """The names as given, or UnknownSplitError naming the closest real split."""
    for split in splits:
        if split not in SPLITS:
            close = difflib.get_close_matches(split.replace("-", "_"), SPLITS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UnknownSplitError(
                f"no split named '{split}'{hint}: a version has {', '.join(SPLITS)}"
            )
    return splits


def pin_version(
    layout: WarehouseLayout, version: int | str, splits: list[str] | None = None
) -> PinnedVersion:
    """Resolve `version` and verify the manifest and the files of `splits` (default: all)."""
    number = resolve_version(layout, version)
    names = check_split_names(list(splits or SPLITS))
    store = layout.store
    manifest_bytes = store.read_bytes(*version_parts(number, "_meta", "manifest.json"))
    manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
    if manifest_sha256 != _recorded_manifest_sha256(layout, number):
        raise _tampered(number, "_meta/manifest.json")
    changed = changed_files(layout, number, [f"{split}.parquet" for split in names])
    if changed:
        raise _tampered(number, changed[0])
    return PinnedVersion(
        number,
        version_location(layout, number),
        json.loads(manifest_bytes),
        manifest_sha256,
        store.arrow_filesystem(),
    )


def _recorded_manifest_sha256(layout: WarehouseLayout, version: int) -> str | None:
    row = pq.read_table(
        version_location(layout, version, "_meta", "version.parquet"),
        columns=["manifest_sha256"],
        filesystem=layout.store.arrow_filesystem(),
    )
    recorded: str | None = row.column("manifest_sha256")[0].as_py()  # pyarrow is untyped
    return recorded


def _tampered(version: int, name: str) -> TamperedVersionError:
    path = f"splits/{version_dir_name(version)}/{name}"
    return TamperedVersionError(
        f"{path} does not match the sha256 its version recorded: it changed after publishing, "
        f"so v{version} is not loaded. Restore the file from a backup or copy of the lake, or "
        "train on another version (`bayesline splits list`)"
    )
