"""The image demo: scikit-learn's handwritten digits (they ship inside the package: nothing
is downloaded) as PNG files under BAYESLINE_HOME/images/, from two distributions.

- `scanner` (training): the 8x8 digits upscaled to 32x32, dark ink on white, clean.
- `field` (the target: what the product meets): the same kind of digits photographed by
  phones, so rotated a little, noisier and, at night, washed out. `phone-b` is the worse
  camera (more rotation and noise): the slice a pixel model should find weak.

Slice columns: `device` (flatbed-a/b, phone-a/b) and `lighting` (lamp, day, night). Two field
rows name images that were never copied, so ingest has something to quarantine. The output is
a pure function of the seed: the same bytes to the same paths, unchanged files left alone.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bayesline.demo.files import write_if_changed

IMAGE_SOURCES = ("scanner", "field")
SIDE = 32  # pixels per side of a written PNG
HEADER = ["digit_id", "digit", "image_path", "device", "lighting"]
NEVER_COPIED = ("images/field/lost 1.png", "images/field/lost 2.png")
CONFIG_NAME = "bayesline-images.toml"

#: (max rotation in degrees, noise standard deviation, contrast kept) per field camera.
FIELD_CAMERAS = {"phone-a": (12.0, 18.0, 0.8), "phone-b": (30.0, 40.0, 0.7)}
NIGHT_CONTRAST = 0.5  # at night a photo keeps this share of its contrast

CONFIG_TOML = """# Bayesline's image demo (`bayesline demo --images`): handwritten digits from a
# scanner (training) and from phone cameras (the target). Written by the demo; edit a copy.

[dataset]
name = "demo-digits"
id_column = "digit_id"
label_column = "digit"
labels = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
image_columns = ["image_path"]     # paths relative to BAYESLINE_HOME, in a folder under it
slice_columns = ["device", "lighting"]

[sources]
target = ["field"]

[splits]
salt = "bayesline-digits-v1"

[splits.target]
train = 0.3
dev = 0.35
test = 0.35

[splits.training]
train = 0.8
train_dev = 0.2

[quality]
min_examples_per_split = 20

[evaluation]
human_level_error = 0.02
min_slice_size = 30

[labeling]
project_title = "Bayesline image demo: human-level baseline"
overlap = 3
per_slice_cap = 20
overall_cap = 60
# DEMO ONLY: simulated annotators label the overall sample (see bayesline.toml).
[labeling.simulated_annotators]
sim-annotator-a = 0.02
sim-annotator-b = 0.04
sim-annotator-c = 0.08
"""


@dataclass(frozen=True)
class ImageDemoSummary:
    config_path: Path
    n_images: dict[str, int]  # per source
    never_copied: tuple[str, ...]


def generate_image_demo(home: Path, seed: int = 7) -> ImageDemoSummary:
    """Write the PNGs, one landing CSV per source and the demo's config under `home`."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    digits = load_digits()
    rng = np.random.default_rng(seed)
    rows: dict[str, list[list[str]]] = {source: [] for source in IMAGE_SOURCES}
    for index, (pixels, digit) in enumerate(zip(digits.images, digits.target, strict=True)):
        source = "field" if index % 3 == 0 else "scanner"
        device, lighting = _conditions(source, index, rng)
        path = f"images/{source}/digit {index:04d}.png"
        image = _render(pixels, source, device, lighting, rng)
        write_if_changed(home / path, _png(image))
        rows[source].append([f"digit-{index:04d}", str(digit), path, device, lighting])
    rows["field"] += [
        [f"lost-{n}", "0", path, "phone-a", "day"] for n, path in enumerate(NEVER_COPIED, 1)
    ]
    for source, source_rows in rows.items():
        write_if_changed(home / "landing" / source / "digits.csv", _csv(source_rows))
    config_path = home / CONFIG_NAME
    write_if_changed(config_path, CONFIG_TOML.encode())
    counts = {source: len(r) for source, r in rows.items()}
    return ImageDemoSummary(config_path, counts, NEVER_COPIED)


def _conditions(source: str, index: int, rng: np.random.Generator) -> tuple[str, str]:
    if source == "scanner":
        return ("flatbed-a", "flatbed-b")[index % 2], "lamp"
    device = "phone-b" if rng.random() < 0.4 else "phone-a"
    return device, "night" if rng.random() < 0.3 else "day"


def _render(
    pixels: np.ndarray, source: str, device: str, lighting: str, rng: np.random.Generator
) -> Image.Image:
    """Dark ink on white at SIDE x SIDE; a field photo is rotated, washed out and noisy."""
    ink = 255.0 - pixels * (255.0 / 16.0)
    image = Image.fromarray(ink.astype(np.uint8), mode="L").resize(
        (SIDE, SIDE), Image.Resampling.BILINEAR
    )
    if source == "scanner":
        return image
    rotation, noise, contrast = FIELD_CAMERAS[device]
    if lighting == "night":
        contrast *= NIGHT_CONTRAST
    angle = float(rng.uniform(-rotation, rotation))
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
    values = np.asarray(image, dtype=np.float64)
    values = 128.0 + (values - 128.0) * contrast + rng.normal(0.0, noise, values.shape)
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), mode="L")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode()
