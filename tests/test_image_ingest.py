"""Image rows whose file is missing, outside BAYESLINE_HOME or not an image are quarantined at
ingest with their path and reason; every row with a readable image loads."""

from __future__ import annotations

import io
import json

from PIL import Image

from tests.conftest import write_csv
from warehouse.catalog import open_reader
from warehouse.config import parse_config
from warehouse.ingest import ingest_landing_files

IMAGE_CONFIG = parse_config(
    {
        "dataset": {
            "name": "scans",
            "id_column": "scan_id",
            "label_column": "finding",
            "labels": ["clear", "nodule"],
            "image_columns": ["image_path"],
            "slice_columns": ["scanner"],
        },
        "sources": {"target": ["clinic"]},
        "splits": {
            "salt": "scans",
            "target": {"train": 0.4, "dev": 0.3, "test": 0.3},
            "training": {"train": 0.9, "train_dev": 0.1},
        },
    }
)
HEADER = ["scan_id", "finding", "image_path", "scanner"]


def png_bytes(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), color=shade).save(buffer, format="PNG")
    return buffer.getvalue()


def test_rows_with_unusable_images_are_quarantined_with_path_and_reason(layout):
    images = layout.home / "images" / "clinic"
    images.mkdir(parents=True)
    for n in range(6):
        (images / f"scan {n}.png").write_bytes(png_bytes(40 * n))
    whole = png_bytes(200)
    (images / "cut.png").write_bytes(whole[: len(whole) // 2])  # an interrupted copy
    (images / "notes.png").write_text("a text file with an image's name", encoding="utf-8")
    (layout.home / "loose.png").write_bytes(png_bytes(9))  # not in a folder under the home
    bad = {
        "s-cut": "images/clinic/cut.png",
        "s-text": "images/clinic/notes.png",
        "s-missing": "images/clinic/never-copied.png",
        "s-loose": "loose.png",
        "s-escape": "../outside.png",
    }
    rows = [
        (f"s-{n}", "clear" if n % 2 else "nodule", f"images/clinic/scan {n}.png", "ct-a")
        for n in range(6)
    ]
    rows += [(scan_id, "clear", path, "ct-b") for scan_id, path in bad.items()]
    # The same good image named by two rows is checked once and loads twice.
    rows.append(("s-again", "nodule", "images/clinic/scan 0.png", "ct-b"))
    write_csv(layout.landing / "clinic" / "day1.csv", rows, header=HEADER)

    (result,) = ingest_landing_files(layout, IMAGE_CONFIG).files

    assert (result.rows_loaded, result.rows_rejected) == (7, 5)
    assert result.rejects_by_type == {"unreadable_image": 5}
    with open_reader(layout, IMAGE_CONFIG) as con:
        rejected = con.execute(
            "SELECT raw, error_type, reason FROM rejected_rows ORDER BY line_number"
        ).fetchall()
        loaded = {r[0] for r in con.execute("SELECT example_id FROM examples").fetchall()}
    assert loaded == {f"s-{n}" for n in range(6)} | {"s-again"}
    reasons = {json.loads(raw)["scan_id"]: reason for raw, _, reason in rejected}
    assert set(reasons) == set(bad)
    for scan_id, path in bad.items():
        assert path in reasons[scan_id], reasons[scan_id]
    assert "not found" in reasons["s-missing"]
    assert "cannot be read as an image" in reasons["s-text"]
    assert "cannot be read as an image" in reasons["s-cut"]
    assert "copy the images there" in reasons["s-loose"] and "copy" in reasons["s-escape"]
