"""What the demo generator reports: the files and planted rows it wrote, and the examples."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PlantedRow:
    """One deliberately malformed row. `line` is the physical line in a CSV/TSV file (the
    header is line 1), the line in a JSONL file, or the 1-based row number in a Parquet file.
    For a duplicate id, the planted row is the later occurrence; a warehouse that refuses both
    versions of an id repeated within one file also rejects the earlier one."""

    path: str  # relative to the landing directory, e.g. "web_reviews/web-2024-01.csv"
    line: int
    kind: str
    review_id: str


@dataclass(frozen=True)
class DemoDataSummary:
    """What `generate_demo_data` wrote. Treat the dicts as read-only."""

    landing_dir: Path
    files: tuple[Path, ...]  # every file the generator owns, in a stable order
    rows_written: dict[str, int]  # source -> data rows or lines written, malformed included
    rows_per_file: dict[str, int]  # relative path -> data rows or lines written
    malformed: dict[str, int]  # kind -> planted rows (every kind of MALFORMED_KINDS)
    planted: tuple[PlantedRow, ...]
    labels_flipped: dict[str, int]  # source -> valid rows whose label was flipped (noise)
    near_duplicates: tuple[tuple[str, str], ...]  # (review_id, review_id of its variant)
    files_changed: tuple[Path, ...] = ()  # files whose bytes this run (re)wrote

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    @property
    def valid_rows(self) -> dict[str, int]:
        """Rows per source that are not planted malformed rows."""
        planted = Counter(row.path.split("/", 1)[0] for row in self.planted)
        return {source: n - planted[source] for source, n in self.rows_written.items()}

    def describe(self) -> str:
        lines = [f"Demo data under {self.landing_dir} ({len(self.files_changed)} files changed):"]
        planted_per_file = Counter(row.path for row in self.planted)
        for relpath, rows in self.rows_per_file.items():
            lines.append(
                f"  {relpath:<40} {rows:>6,} rows  {planted_per_file[relpath]:>2} malformed"
            )
        lines.append(
            "Rows per source: "
            + ", ".join(f"{source} {n:,}" for source, n in self.rows_written.items())
        )
        lines.append(
            f"Malformed rows planted ({self.malformed_total}): "
            + ", ".join(f"{kind} {n}" for kind, n in self.malformed.items())
        )
        lines.append(
            "Labels flipped (noise): "
            + ", ".join(f"{source} {n}" for source, n in self.labels_flipped.items())
        )
        lines.append(f"Near-duplicate pairs: {len(self.near_duplicates)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class DemoExample:
    """One well-formed generated row with what the generator knows about it."""

    values: dict[str, str]  # the COLUMNS as written
    source: str
    path: str  # relative file path
    true_sentiment: str  # the label before noise
    style: str  # plain, negated, mixed, sarcastic, short, vague (how the text was composed)

    @property
    def label_flipped(self) -> bool:
        return self.values["sentiment"] != self.true_sentiment
