"""A few example images of the worst slice, as small PNGs for the report and Dagster.

People would rather look than read: next to "device = phone-b, 30% dev error", six of its dev
images (the misclassified ones first) show what the model is up against. Only the first image
column is shown, and only for datasets with images.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from warehouse.catalog import open_reader
from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_identifier
from warehouse.image_files import image_path_under
from warehouse.layout import WarehouseLayout
from warehouse.slice_bins import slice_columns_of_version, slice_condition, slice_label

SHOWN = 6  # thumbnails of the worst slice
THUMBNAIL_SIDE = 64  # pixels: small images are enlarged to this, large ones shrunk


@dataclass(frozen=True)
class Thumbnail:
    example_id: str
    label: str
    predicted_label: str
    png: bytes


@dataclass(frozen=True)
class SliceThumbnails:
    slice_label: str  # e.g. "device = phone-b"
    thumbnails: list[Thumbnail]


def worst_slice_thumbnails(
    layout: WarehouseLayout, config: BayeslineConfig, model_version: str, split_version: int
) -> SliceThumbnails | None:
    """Dev images of the model's top-ranked low-performing slice, the errors first; None
    without images or without a flagged slice."""
    if not config.dataset.image_columns:
        return None
    with open_reader(layout, config) as con:
        worst = con.execute(
            "SELECT slice_column, slice_value FROM low_performing_slices "
            "WHERE model_version = ? AND split_version = ? AND rank = 1",
            [model_version, split_version],
        ).fetchone()
        if worst is None:
            return None
        where, params = slice_condition(
            slice_columns_of_version(con, config, split_version), *worst
        )
        image = quote_identifier(config.dataset.image_columns[0])
        rows = con.execute(
            f"SELECT s.example_id, s.label, p.predicted_label, s.{image} "
            f"FROM (SELECT * FROM splits WHERE version = ? AND split = 'dev' {where}) AS s "
            "JOIN predictions AS p USING (example_id) "
            f"WHERE p.model_version = ? AND p.split_version = ? AND s.{image} IS NOT NULL "
            "ORDER BY p.predicted_label = s.label, sha256(s.example_id) "
            f"LIMIT {SHOWN}",
            [split_version, *params, model_version, split_version],
        ).fetchall()
    thumbnails = [Thumbnail(i, gold, guess, _png(layout, path)) for i, gold, guess, path in rows]
    return SliceThumbnails(slice_label(*worst), thumbnails)


def _png(layout: WarehouseLayout, path: str) -> bytes:
    """The image fitted into THUMBNAIL_SIDE pixels (pixelated when enlarged, as digits are)."""
    with Image.open(layout.home.resolve() / image_path_under(layout.home, path)) as image:
        picture = image.convert("RGB")
    scale = THUMBNAIL_SIDE / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    buffer = io.BytesIO()
    picture.resize(size, resample).save(buffer, format="PNG")
    return buffer.getvalue()
