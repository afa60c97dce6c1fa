"""Where the lake's files live: a local folder (the default) or S3-compatible object storage.

Every lake file is named by its path under WarehouseLayout.lake (`lake/examples/<id>.parquet`);
a LakeStore says where that name really lives (the same path, or an s3:// URL that DuckDB reads
through the fsspec filesystem registered on its connection), lists a table's files, and takes
a finished file or folder made in local scratch.

A single file reaches object storage in one PUT, which S3 makes visible whole or not at all:
a crash before it leaves nothing, and an immutable object (a batch, a predictions file) is
checked for first, never overwritten.

Object storage has no atomic rename, so publishing there keeps its promises another way:
1. the finished folder (written and hashed in local scratch) is uploaded under a unique
   staging prefix that no reader lists;
2. each object is copied to its final key, none of which belongs to a published folder (one
   with a commit marker): a crashed publish may have left objects there, never a marker;
3. the commit marker is written last. Readers list only folders that have their marker, so a
   crash anywhere before it leaves nothing visible, and the next run publishes over the
   debris and converges.
On a local disk the folder is still renamed into place in one step, as it always was.
"""

from __future__ import annotations

import glob
import hashlib
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import fsspec  # type: ignore[import-untyped]  # fsspec ships no type information

from deployment.atomic_files import rename_durably
from deployment.errors import BayeslineError
from deployment.settings import LakeSettings, lake_settings
from warehouse.pause_points import pause_point

#: Written last into a published folder on object storage: the folder exists from then on.
COMMIT_MARKER = "_COMMITTED"
STAGING_PREFIX = ".staging"


class PublishedFolderError(BayeslineError, FileExistsError):
    """A folder is already published there: published objects are never overwritten."""


class PublishedObjectError(BayeslineError, FileExistsError):
    """An immutable lake file is already there: it is never overwritten."""


@dataclass(frozen=True)
class LakeStore:
    """The lake's root (a local path, or s3://bucket/prefix) and the filesystem it lives on."""

    root: str
    fs: fsspec.AbstractFileSystem
    settings: LakeSettings | None = None
    #: The local lake folder whose paths name lake files (WarehouseLayout.lake).
    lake_dir: Path | None = None

    @property
    def remote(self) -> bool:
        return self.settings is not None

    def location(self, *parts: str) -> str:
        """The path or s3:// URL of `parts` under the lake's root, as DuckDB reads it."""
        return "/".join([self.root, *parts])

    def location_of(self, path: Path | str) -> str:
        """Where the lake file (or glob) named by `path`, a path under the local lake folder,
        lives: that path on a local lake, its s3:// URL on object storage."""
        if not self.remote:
            return str(path)
        if self.lake_dir is None:
            raise ValueError("this store names no local lake folder; use location()")
        return self.location(*Path(path).relative_to(self.lake_dir).parts)

    def holds(self, path: Path) -> bool:
        """Whether the lake file named by `path` (under the local lake folder) exists."""
        return bool(self.fs.exists(self.location_of(path)))

    def files(self, pattern: Path) -> list[str]:
        """The locations of the published files matching `pattern` (a glob under the local
        lake folder), sorted; hidden names (staging, `.<name>.tmp`) are never listed."""
        if not self.remote:
            found = glob.glob(str(pattern))  # skips hidden names, like fs.glob below
        else:
            found = [f"s3://{key}" for key in self.fs.glob(self.location_of(pattern))]
        return sorted(f for f in found if not f.rsplit("/", 1)[-1].startswith("."))

    @contextmanager
    def local_copy(self, path: Path, scratch: Path) -> Iterator[Path]:
        """The lake file named by `path` as a local file: itself on a local lake, else a
        download into `scratch`, removed afterwards."""
        if not self.remote:
            yield path
            return
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch) as folder:
            local = Path(folder) / path.name
            self.fs.get_file(self.location_of(path), str(local))
            yield local

    def put_file(self, made: Path, final: Path, *, immutable: bool) -> str:
        """Upload the finished local file `made` as the lake file `final` in one PUT (object
        storage only); returns its URL.

        Raises PublishedObjectError when `immutable` and the object is already there.
        """
        target = self.location_of(final)
        if immutable and self.fs.exists(target):
            raise PublishedObjectError(f"{target} already exists; it is never overwritten")
        self.fs.put_file(str(made), target)
        return target

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let `con` read and COPY to s3:// locations (a local lake needs nothing)."""
        if self.remote and not con.filesystem_is_registered(self.fs.protocol[0]):
            con.register_filesystem(self.fs)

    def exists(self, *parts: str) -> bool:
        return bool(self.fs.exists(self.location(*parts)))

    def read_bytes(self, *parts: str) -> bytes:
        content: bytes = self.fs.cat_file(self.location(*parts))
        return content

    def sha256(self, *parts: str) -> str:
        """sha256 of an object, streamed in chunks."""
        digest = hashlib.sha256()
        with self.fs.open(self.location(*parts), "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def arrow_filesystem(self) -> fsspec.AbstractFileSystem | None:
        """The filesystem pyarrow should open locations with (None: its own local one)."""
        return self.fs if self.remote else None

    def published_folders(self, *parts: str) -> list[str]:
        """Names of the published folders directly under `parts`: on object storage those
        with a commit marker, locally every folder (a rename made each whole)."""
        base = self.location(*parts)
        if not self.remote:
            folder = Path(base)
            return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        markers = self.fs.glob(f"{base}/*/{COMMIT_MARKER}")
        return sorted(m.rstrip("/").split("/")[-2] for m in markers)

    def publish_folder(self, local: Path, *parts: str) -> str:
        """Publish the finished folder `local` at `parts`; returns its location. Call it
        holding the writer lock: it sweeps the staging prefixes a killed writer left.

        Raises PublishedFolderError when a published folder is already there.
        """
        if not self.remote:
            return _rename_into_place(local, Path(self.location(*parts)))
        final = self.location(*parts)
        if self.fs.exists(f"{final}/{COMMIT_MARKER}"):
            raise PublishedFolderError(f"{final} is already published; it is never overwritten")
        self._remove_abandoned_staging(*parts[:-1])
        names = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
        staging = self.location(*parts[:-1], f"{STAGING_PREFIX}-{parts[-1]}-{uuid.uuid4().hex}")
        try:
            self.fs.put([str(local / n) for n in names], [f"{staging}/{n}" for n in names])
            pause_point("lake.objects_staged")
            for name in names:
                self.fs.copy(f"{staging}/{name}", f"{final}/{name}")
            pause_point("lake.objects_placed")
            self.fs.pipe_file(f"{final}/{COMMIT_MARKER}", b"")
        finally:
            if self.fs.exists(staging):
                self.fs.rm(staging, recursive=True)
        return final

    def _remove_abandoned_staging(self, *parts: str) -> None:
        """Staging prefixes under `parts`: only a killed writer leaves one, and the caller
        holds the writer lock, so no live writer is using any of them."""
        base = self.location(*parts)
        if not self.fs.exists(base):
            return
        for entry in self.fs.ls(base, detail=False):
            if entry.rstrip("/").split("/")[-1].startswith(f"{STAGING_PREFIX}-"):
                self.fs.rm(entry, recursive=True)


def _rename_into_place(local: Path, final: Path) -> str:
    if final.exists():
        raise PublishedFolderError(f"{final} is already published; it is never overwritten")
    final.parent.mkdir(parents=True, exist_ok=True)
    rename_durably(local, final)
    return str(final)


def lake_store(lake_dir: Path) -> LakeStore:
    """The lake BAYESLINE_LAKE_URL names (deployment/settings), else the folder `lake_dir`."""
    settings = lake_settings()
    if settings is None:
        return LakeStore(str(lake_dir), fsspec.filesystem("file"), lake_dir=lake_dir)
    return LakeStore(settings.url, _s3_filesystem(settings), settings, lake_dir)


#: One filesystem per lake and credentials in a process: each costs a botocore session (about
#: a second on a busy machine), and a run asks for the lake's store hundreds of times.
_FILESYSTEMS: dict[tuple[LakeSettings, str], fsspec.AbstractFileSystem] = {}


def _s3_filesystem(settings: LakeSettings) -> fsspec.AbstractFileSystem:
    try:
        import s3fs  # type: ignore[import-untyped]  # s3fs ships no type information
    except ImportError as exc:
        raise ImportError(
            f"the lake is on {settings.url}, which needs s3fs: pip install -e '.[s3]'"
        ) from exc
    options = settings.filesystem_options()
    # Keyed by a digest of the options, so the keys themselves are held nowhere new.
    key = (settings, hashlib.sha256(repr(sorted(options.items())).encode()).hexdigest())
    if key not in _FILESYSTEMS:
        # No listing cache: another machine may publish between two of our listings.
        _FILESYSTEMS[key] = s3fs.S3FileSystem(
            **options, skip_instance_cache=True, use_listings_cache=False
        )
    return _FILESYSTEMS[key]
