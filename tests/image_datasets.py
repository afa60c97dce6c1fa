"""Small image datasets written by the tests themselves: striped PNGs under BAYESLINE_HOME.

Horizontal stripes are `rows`, vertical ones `columns`; the target source (`field`) is noisier
than the training source (`lab`), and on camera `cam-b` noisier still, so a pixel model has a
weak slice to find. Nothing here comes from the demo generator.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_HEADER = ["shot_id", "pattern", "image_path", "camera"]
IMAGE_SIDE = 8
CONTRAST = 40.0  # between dark and light stripes: faint, so noise costs accuracy


def image_config_toml(evaluation: str = "", target_train: float = 0.3) -> str:
    """The stripes dataset's bayesline.toml; `evaluation` adds lines to [evaluation], and
    `target_train` is the share of field examples that go to train (the rest: dev, test)."""
    dev = round((1 - target_train) / 2, 6)
    return (
        '[dataset]\nname = "stripes"\nid_column = "shot_id"\nlabel_column = "pattern"\n'
        'labels = ["columns", "rows"]\nimage_columns = ["image_path"]\n'
        'slice_columns = ["camera"]\n\n[sources]\ntarget = ["field"]\n\n'
        '[splits]\nsalt = "stripes"\n[splits.target]\n'
        f"train = {target_train}\ndev = {dev}\ntest = {round(1 - target_train - dev, 6)}\n"
        "[splits.training]\ntrain = 0.8\ntrain_dev = 0.2\n\n"
        "[quality]\nmin_examples_per_split = 10\n\n"
        f"[evaluation]\nmin_slice_size = 15\nhuman_level_error = 0.02\n{evaluation}\n"
    )


def striped_image(pattern: str, noise: float, rng: np.random.Generator) -> Image.Image:
    stripes = (np.arange(IMAGE_SIDE) // 2 % 2) * CONTRAST + 100.0
    pixels = np.tile(stripes, (IMAGE_SIDE, 1))
    if pattern == "rows":
        pixels = pixels.T
    pixels = pixels + rng.normal(0.0, noise, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")


def write_image_dataset(
    home: Path,
    n_per_source: int = 150,
    seed: int = 0,
    missing: tuple[str, ...] = (),
    lab_patterns: tuple[str, ...] = ("columns", "rows"),
) -> list[str]:
    """Land a `lab` and a `field` CSV with their PNGs; return the image paths written.

    Each path in `missing` is named by one more field row but never written."""
    rng = np.random.default_rng(seed)
    written = []
    for source, noise in (("lab", 20.0), ("field", 60.0)):
        rows = []
        for i in range(n_per_source):
            patterns = lab_patterns if source == "lab" else ("columns", "rows")
            pattern = patterns[i % len(patterns)]
            camera = "cam-b" if i % 3 == 0 else "cam-a"
            path = f"images/{source}/shot {i}.png"
            loud = noise * (4.0 if source == "field" and camera == "cam-b" else 1.0)
            (home / path).parent.mkdir(parents=True, exist_ok=True)
            striped_image(pattern, loud, rng).save(home / path)
            written.append(path)
            rows.append((f"{source}-{i}", pattern, path, camera))
        if source == "field":
            rows += [(f"lost-{n}", "rows", path, "cam-a") for n, path in enumerate(missing)]
        _write_rows(home / "landing" / source / "shots.csv", rows)
    return written


def _write_rows(path: Path, rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(IMAGE_HEADER)
        writer.writerows(rows)
