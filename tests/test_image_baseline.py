"""The built-in image baseline on PNGs the test writes: what it learns, its sample cap, its
bounded batches, and what a dataset with text and images gets."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

import duckdb
import numpy as np
import pytest

from evaluation import image_baseline
from evaluation.baseline import BaselineError, train_baseline
from evaluation.image_baseline import IMAGE_SIDE, pixel_features
from tests.image_datasets import image_config_toml, write_image_dataset
from warehouse.config import load_config
from warehouse.ingest import ingest_landing_files
from warehouse.splits import publish_split_version, version_path


@pytest.fixture
def stripes(layout, tmp_path):
    path = tmp_path / "bayesline.toml"
    path.write_text(image_config_toml(), encoding="utf-8")
    config = load_config(path)
    write_image_dataset(layout.home, n_per_source=120)
    ingest_landing_files(layout, config)
    publish_split_version(layout, config)
    return layout, config


def version_rows(layout, split: str) -> list[tuple]:
    path = version_path(layout, 1) / f"{split}.parquet"
    with duckdb.connect() as con:
        return con.execute(
            f"SELECT example_id, label, image_path FROM read_parquet('{path}')"
        ).fetchall()


def stored(layout, result) -> dict[str, tuple]:
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT example_id, predicted_label, probs['columns'] + probs['rows'], in_training_set "
            f"FROM read_parquet('{result.summary.path}')"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_the_image_baseline_learns_stripes_with_probabilities(stripes):
    layout, config = stripes
    result = train_baseline(layout, config)
    assert result.model_version == "baseline-pixels-sgd-v0001"
    assert result.payload == "the images of image_path (grey 16x16 pixels)"
    assert result.summary.covered == result.summary.split_sizes
    assert result.accuracy["train"] > 0.9 and result.accuracy["dev"] > 0.75
    predictions = stored(layout, result)
    assert all(abs(total - 1) < 1e-6 for _, total, _ in predictions.values())
    train_ids = {r[0] for r in version_rows(layout, "train")}
    assert {i for i, (_, _, fit) in predictions.items() if fit} == train_ids


def test_the_cap_fits_on_the_md5_sample_in_bounded_batches(stripes, monkeypatch) -> None:
    layout, config = stripes
    seen: list[int] = []

    def counting(root, rows):
        seen.append(len(rows))
        return pixel_features(root, rows)

    monkeypatch.setattr(image_baseline, "IMAGE_BATCH", 16)
    monkeypatch.setattr(image_baseline, "pixel_features", counting)
    capped = replace(config, evaluation=replace(config.evaluation, baseline_max_train_rows=50))
    result = train_baseline(layout, capped)
    assert result.n_fit == 50 < result.n_train
    assert max(seen) == 16 and sum(seen) >= 50 * image_baseline.EPOCHS
    train = version_rows(layout, "train")
    chosen = sorted(train, key=lambda r: (hashlib.md5(r[0].encode()).hexdigest(), r[0]))[:50]
    fitted = {i for i, (_, _, fit) in stored(layout, result).items() if fit}
    assert fitted == {r[0] for r in chosen}


def test_pixels_are_grey_resized_and_missing_files_say_what_to_do(layout):
    from PIL import Image

    folder = layout.home / "images" / "x"
    folder.mkdir(parents=True)
    Image.new("RGB", (40, 30), (255, 255, 255)).save(folder / "white.png")
    features = pixel_features(layout.home, [("images/x/white.png", None)])
    assert features.shape == (1, 2 * IMAGE_SIDE * IMAGE_SIDE)
    assert np.allclose(features[0, : IMAGE_SIDE**2], 0.5) and not features[0, IMAGE_SIDE**2 :].any()
    with pytest.raises(ValueError, match=r"images/x/gone\.png cannot be read any more.*restore"):
        pixel_features(layout.home, [("images/x/gone.png",)])


def test_an_image_deleted_after_ingest_fails_the_baseline_naming_it(stripes):
    layout, config = stripes
    first = version_rows(layout, "train")[0][2]
    (layout.home / first).unlink()
    with pytest.raises(BaselineError, match=re.escape(f"image {first} cannot be read any more")):
        train_baseline(layout, config)


def test_text_and_images_the_baseline_says_it_read_the_text(layout, tmp_path):
    path = tmp_path / "bayesline.toml"
    mixed = image_config_toml().replace(
        'image_columns = ["image_path"]',
        'image_columns = ["image_path"]\ntext_columns = ["caption"]',
    )
    path.write_text(mixed, encoding="utf-8")
    config = load_config(path)
    write_image_dataset(layout.home, n_per_source=60)
    for csv_path in layout.landing.rglob("*.csv"):
        lines = csv_path.read_text().splitlines()
        captioned = [lines[0] + ",caption"]
        captioned += [f"{line},a photo of {line.split(',')[1]}" for line in lines[1:]]
        csv_path.write_text("\n".join(captioned) + "\n")
    ingest_landing_files(layout, config)
    publish_split_version(layout, config)
    result = train_baseline(layout, config)
    assert result.model_version == "baseline-tfidf-logreg-v0001"
    assert result.payload.startswith("the text of caption (TF-IDF); not image_path")
    assert result.accuracy["dev"] == 1.0  # the caption names the pattern
