"""Landing files in the repository config's shape, written by hand for the run fault tests."""

from __future__ import annotations

from pathlib import Path

from bayesline.demo.records import COLUMNS
from tests.conftest import write_csv

#: The bundled bayesline.toml's columns (the demo's); the rows below are written here.
REVIEW_HEADER = list(COLUMNS)
CHANNELS = ("ios", "android", "web")
CATEGORIES = ("toys", "books", "garden", "kitchen")
WORDS = ("sturdy", "flimsy", "bright", "late", "quiet", "sharp", "soft", "cheap", "odd")


def write_reviews(path: Path, prefix: str, n: int, malformed: int = 0) -> int:
    """`n` distinct reviews (one user each) plus `malformed` rows with no label; returns n."""
    rows = [
        (
            f"{prefix}-{i}",
            f"{prefix}-user-{i}",
            "positive" if i % 3 else "negative",
            f"{WORDS[i % len(WORDS)]} {WORDS[(i // 7) % len(WORDS)]} item number {prefix} {i}",
            CHANNELS[i % len(CHANNELS)],
            CATEGORIES[i % len(CATEGORIES)],
            "short" if i % 2 else "long",
            "en",
        )
        for i in range(n)
    ]
    rows += [
        (f"{prefix}-bad-{i}", f"{prefix}-bad-user", "", "no label", "ios", "toys", "short", "en")
        for i in range(malformed)
    ]
    write_csv(path, rows, header=REVIEW_HEADER)
    return n
