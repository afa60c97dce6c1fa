"""`bayesline demo --images`: digits from scikit-learn as PNGs from two distributions, and the
whole loop run on them from the command line."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bayesline.cli import app
from bayesline.demo.images import NEVER_COPIED, generate_image_demo
from warehouse.catalog import open_reader
from warehouse.config import load_config

runner = CliRunner()


def landed(home, source: str) -> list[dict]:
    with (home / "landing" / source / "digits.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def contrast(home, rows: list[dict]) -> float:
    return float(np.mean([np.asarray(Image.open(home / r["image_path"])).std() for r in rows]))


def test_the_image_demo_writes_two_visibly_different_distributions(tmp_path):
    first = generate_image_demo(tmp_path / "a", seed=3)
    generate_image_demo(tmp_path / "b", seed=3)
    home = tmp_path / "a"
    scanner, field = landed(home, "scanner"), landed(home, "field")
    assert first.n_images == {"scanner": len(scanner), "field": len(field)}
    assert len(scanner) + len(field) == 1797 + len(NEVER_COPIED)
    for name in ("landing/field/digits.csv", "images/field/digit 0003.png"):
        assert (home / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert {r["device"] for r in field} == {"phone-a", "phone-b"}
    assert {r["lighting"] for r in field} == {"day", "night"}
    photos = [r for r in field if r["image_path"] not in NEVER_COPIED]
    assert all(not (home / p).exists() for p in NEVER_COPIED)
    night = [r for r in photos if r["lighting"] == "night"]
    # Scans are crisp ink on white; night photos keep well under half their contrast.
    assert contrast(home, night) < 0.6 * contrast(home, scanner[:300])
    with Image.open(home / photos[0]["image_path"]) as image:
        assert image.size == (32, 32) and image.mode == "L"
    assert load_config(first.config_path).dataset.image_columns == ("image_path",)


@pytest.mark.slow
def test_the_image_demo_runs_the_loop_and_shows_its_diagnosis(layout):
    result = runner.invoke(app, ["demo", "--images", "--no-labelstudio"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "baseline-pixels-sgd-v0001" in result.output and "Diagnosis report" in result.output
    config = load_config(layout.home / "bayesline-images.toml")
    with open_reader(layout, config) as con:
        rejected = con.execute("SELECT reason FROM rejected_rows").fetchall()
        flagged = con.execute(
            "SELECT slice_column, slice_value FROM low_performing_slices WHERE rank = 1"
        ).fetchall()
        problems = con.execute(
            "SELECT problems FROM diagnosis WHERE slice_column = 'overall'"
        ).fetchone()[0]
    assert sorted(p for p in NEVER_COPIED if any(p in r for (r,) in rejected)) == list(NEVER_COPIED)
    assert flagged == [("device", "phone-b")]
    assert "data_mismatch" in problems


def test_the_image_demo_refuses_a_home_with_other_data(layout):
    (layout.landing / "app_reviews").mkdir(parents=True)
    result = runner.invoke(app, ["demo", "--images", "--no-labelstudio"])
    assert result.exit_code == 1
    assert "run the image demo in a fresh home" in result.output
