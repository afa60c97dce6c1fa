"""Image payloads: files under BAYESLINE_HOME, named by their path relative to it.

An image column holds a path. The path must lead to a file in a folder under BAYESLINE_HOME
(Label Studio serves local files only from there) that decodes as an image. Ingestion checks
every path once, so a missing or broken image is a quarantined row with its path and reason,
not a failure discovered later by a model or a labeler.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa
from PIL import Image

from deployment.errors import BayeslineError
from warehouse.hashing import quote_identifier

UNREADABLE_IMAGE = "unreadable_image"
#: Paths fetched from DuckDB and checked per round: bounded memory on a large file.
PATHS_PER_ROUND = 10_000
#: Checking is mostly waiting on the disk, so a few threads help even on two cores.
CHECKING_THREADS = 8


class ImagePathError(BayeslineError, ValueError):
    """An image path that cannot be served from BAYESLINE_HOME."""


def image_path_under(root: Path, path: str) -> Path:
    """The image's path relative to `root`; refused unless it is in a folder under `root`."""
    resolved_root = root.resolve()
    absolute = (resolved_root / path).resolve()
    if (
        not absolute.is_relative_to(resolved_root)
        or len(absolute.relative_to(resolved_root).parts) < 2
    ):
        raise ImagePathError(
            f"image {path} is not in a folder under {root}: Label Studio serves local files "
            "only from subfolders of BAYESLINE_HOME; copy the images there (e.g. under images/)"
        )
    return absolute.relative_to(resolved_root)


def image_problem(root: Path, path: str) -> str | None:
    """Why the image at `path` cannot be used, or None when it is a readable image."""
    try:
        absolute = root.resolve() / image_path_under(root, path)
    except ImagePathError as exc:
        return str(exc)
    if not absolute.is_file():
        return f"image {path} not found under {root}: copy it there or fix the path"
    try:
        with Image.open(absolute) as image:
            image.verify()  # decodes enough to find truncated or corrupt files
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"image {path} cannot be read as an image ({type(exc).__name__}: {exc})"
    return None


def quarantine_unreadable_images(
    con: duckdb.DuckDBPyConnection, root: Path, image_columns: Iterable[str]
) -> int:
    """Mark as `unreadable_image` the valid rows of temp table `candidates` whose image is
    missing, outside `root` or not an image; return how many paths were bad."""
    n_bad = 0
    for column in image_columns:
        bad = list(_bad_paths(con, root, column))
        n_bad += len(bad)
        if bad:
            _mark_rows(con, column, bad)
    return n_bad


def _bad_paths(
    con: duckdb.DuckDBPyConnection, root: Path, column: str
) -> Iterator[tuple[str, str]]:
    column_sql = quote_identifier(column)
    # The same connection (`candidates` is a temp table): nothing else runs on it meanwhile.
    con.execute(
        f"SELECT DISTINCT {column_sql} FROM candidates "
        f"WHERE error_type IS NULL AND {column_sql} IS NOT NULL"
    )
    with ThreadPoolExecutor(CHECKING_THREADS) as pool:
        while paths := [path for (path,) in con.fetchmany(PATHS_PER_ROUND)]:
            problems = pool.map(lambda path: image_problem(root, path), paths)
            yield from ((p, why) for p, why in zip(paths, problems, strict=True) if why)


def _mark_rows(con: duckdb.DuckDBPyConnection, column: str, bad: list[tuple[str, str]]) -> None:
    paths, reasons = zip(*bad, strict=True)
    bad_images = pa.table({"path": list(paths), "reason": list(reasons)})  # noqa: F841 (read by SQL)
    column_sql = quote_identifier(column)
    con.execute(
        f"""
        UPDATE candidates SET error_type = '{UNREADABLE_IMAGE}', reason = b.reason
        FROM bad_images AS b
        WHERE candidates.{column_sql} = b.path AND candidates.error_type IS NULL
        """
    )
