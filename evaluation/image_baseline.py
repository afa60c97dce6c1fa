"""The built-in image baseline: grey pixels of a small fixed size, a linear model fitted in
batches.

Each image is read from its path under BAYESLINE_HOME (as Label Studio serves it), made grey,
resized to IMAGE_SIDE x IMAGE_SIDE and flattened, one block per image column. A logistic
model (scikit-learn's SGDClassifier with log loss) learns from them with `partial_fit`, batch
by batch and a few passes over the sample, so at most IMAGE_BATCH images are held at once,
whatever the sample size: only their paths are kept between batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from deployment.errors import BayeslineError
from warehouse.image_files import ImagePathError, image_path_under

IMAGE_SIDE = 16  # pixels per side: small enough to stream, enough for digits and shapes
IMAGE_BATCH = 1024  # images decoded and held at once, while fitting and predicting
EPOCHS = 10  # passes over the sample: stochastic gradient descent needs several
ALPHA = 1e-3  # L2 penalty: steadier than scikit-learn's default on a few thousand images

Paths = Sequence[str | None]  # one image path per image column of an example
Pixels = npt.NDArray[np.float32]


class ImageReadError(BayeslineError, ValueError):
    """An image that ingest accepted can no longer be read (moved or deleted since)."""


def pixel_features(root: Path, rows: Sequence[Paths]) -> Pixels:
    """One row of grey pixels in [-0.5, 0.5] per example, one block per image column (a
    missing path is a block of zeros)."""
    width = IMAGE_SIDE * IMAGE_SIDE
    features = np.zeros((len(rows), width * (len(rows[0]) if rows else 0)), dtype=np.float32)
    for i, paths in enumerate(rows):
        for j, path in enumerate(paths):
            if path:
                features[i, j * width : (j + 1) * width] = _grey_pixels(root, path)
    return features


def _grey_pixels(root: Path, path: str) -> Pixels:
    try:
        with Image.open(root.resolve() / image_path_under(root, path)) as image:
            small = image.convert("L").resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.BILINEAR)
    except (OSError, ImagePathError, Image.DecompressionBombError) as exc:
        raise ImageReadError(
            f"image {path} cannot be read any more ({exc}): restore it under {root}, or land "
            "its rows again so ingest quarantines them"
        ) from exc
    grey: Pixels = np.asarray(small, dtype=np.float32).ravel() / 255.0 - 0.5
    return grey


class PixelModel:
    """Grey pixels into a linear model, fitted and used in batches of IMAGE_BATCH images."""

    def __init__(self, root: Path, seed: int = 0) -> None:
        # Imported here: scikit-learn takes a second to import (see build_pipeline).
        from sklearn.linear_model import SGDClassifier

        self.root = root
        self.model = SGDClassifier(loss="log_loss", alpha=ALPHA, random_state=seed)

    @property
    def classes_(self) -> npt.NDArray[np.str_]:
        classes: npt.NDArray[np.str_] = self.model.classes_
        return classes

    def fit(self, payloads: Sequence[Paths], labels: Sequence[str]) -> PixelModel:
        classes = np.unique(np.asarray(labels, dtype=object).astype(str))
        targets = np.asarray(labels, dtype=object).astype(str)
        for _ in range(EPOCHS):
            for start, batch in _batches(payloads):
                features = pixel_features(self.root, batch)
                self.model.partial_fit(
                    features, targets[start : start + len(batch)], classes=classes
                )
        return self

    def predict_proba(self, payloads: Sequence[Paths]) -> npt.NDArray[np.float64]:
        parts = [
            self.model.predict_proba(pixel_features(self.root, batch))
            for _, batch in _batches(payloads)
        ]
        probabilities: npt.NDArray[np.float64] = (
            np.concatenate(parts) if parts else np.zeros((0, len(self.classes_)))
        )
        return probabilities

    def predict(self, payloads: Sequence[Paths]) -> npt.NDArray[np.str_]:
        predicted: npt.NDArray[np.str_] = self.classes_[
            np.argmax(self.predict_proba(payloads), axis=1)
        ]
        return predicted


def _batches(payloads: Sequence[Paths]) -> Iterator[tuple[int, Sequence[Paths]]]:
    for start in range(0, len(payloads), IMAGE_BATCH):
        yield start, payloads[start : start + IMAGE_BATCH]
