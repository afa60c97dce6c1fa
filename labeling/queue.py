"""Which examples people should label next, and how Label Studio shows them.

Baseline tasks measure human-level error where the model is weakest: for each low-performing
slice that is a finding (not a pair shown under its parent), and a sample of all of dev/test
for the overall figure, examples are drawn from dev and test, stratified by split and gold
label, capped per slice, and prioritised by the errors the slice could remove. Sampling order
comes from sha256(salt, example id), so the same warehouse queues the same examples on any
machine. Tasks are blind: no prediction, no gold label.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import duckdb

from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_identifier, quote_literal
from warehouse.image_files import image_path_under
from warehouse.slice_bins import slice_columns_of_version, slice_condition, slice_label
from warehouse.slice_names import OVERALL

QUEUE_SALT = "bayesline-labeling-queue"


@dataclass(frozen=True)
class QueuedExample:
    example_id: str
    split: str
    slice_column: str
    slice_value: str
    priority: float
    payload: dict[str, str]

    @property
    def slice_label(self) -> str:
        return slice_label(self.slice_column, self.slice_value)

    def task(self, split_version: int, images: ImageServing | None = None) -> dict[str, Any]:
        """A Label Studio task: the payload to show, and what we need to map it back."""
        payload = dict(self.payload)
        if images is not None:
            for column in images.columns:
                payload[column] = images.url(payload[column])
        return {
            "data": {
                **payload,
                "example_id": self.example_id,
                "slice": self.slice_label,
                "split_version": split_version,
                "priority": round(self.priority, 4),
            },
            "meta": {"bayesline_queue": "baseline", "split": self.split},
        }


@dataclass(frozen=True)
class ImageServing:
    """Image payloads reach labelers through Label Studio's local-files storage.

    Paths in the data are relative to `root` (BAYESLINE_HOME, Label Studio's
    LOCAL_FILES_DOCUMENT_ROOT) or absolute inside it; anything else could not be served.
    """

    root: Path
    columns: tuple[str, ...]

    def relative(self, path: str) -> Path:
        """The image's path under the root; refused when Label Studio could not serve it."""
        return image_path_under(self.root, path)

    def url(self, path: str) -> str:
        return f"/data/local-files/?d={quote(str(self.relative(path)))}"

    def storage_folders(self, examples: Iterable[QueuedExample]) -> set[Path]:
        """The top-level folders that local storages must cover for these examples."""
        return {
            self.root.resolve() / self.relative(example.payload[column]).parts[0]
            for example in examples
            for column in self.columns
        }


def labeling_interface(config: BayeslineConfig) -> str:
    """Label Studio XML matching the payload: text classification, or images by path."""
    dataset = config.dataset
    shown = [f'<Text name="{c}" value="${c}"/>' for c in dataset.text_columns]
    shown += [f'<Image name="{c}" value="${c}"/>' for c in dataset.image_columns]
    target = dataset.payload_columns[0]
    choices = "".join(f"<Choice value={quoteattr(label)}/>" for label in dataset.labels)
    return (
        "<View>"
        + "".join(shown)
        + f'<Choices name="label" toName="{target}" choice="single" showInLine="true" '
        f'required="true">{choices}</Choices>'
        "</View>"
    )


def slices_to_label(
    con: duckdb.DuckDBPyConnection, split_version: int
) -> list[tuple[str, str, float]]:
    """(slice column, slice value, errors removable) of every low-performing slice that is a
    finding for some model on this split version. A pair shown under its flagged parent is
    left out: its parent's tasks already measure human-level error where it is weak."""
    return con.execute(
        "SELECT slice_column, slice_value, max(errors_removable) FROM low_performing_slices "
        "WHERE split_version = ? AND parent_slice_column IS NULL GROUP BY ALL "
        "ORDER BY 3 DESC, 1, 2",
        [split_version],
    ).fetchall()


def select_baseline_examples(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    split_version: int,
    slices: Iterable[tuple[str, str, float]],
    per_slice_cap: int = 50,
    exclude: Iterable[str] = (),
    overall_cap: int = 100,
    already_queued: dict[tuple[str, str], int] | None = None,
) -> list[QueuedExample]:
    """Examples to queue for the given (slice column, slice value, priority) slices.

    `exclude` holds example ids already queued: they are never queued twice. Each example is
    queued once, for the highest-priority slice that picked it. A cap counts the tasks a slice
    already has (`already_queued`), so re-running tops slices up instead of growing them.
    """
    already_queued = already_queued or {}
    con.execute("CREATE OR REPLACE TEMP TABLE queue_exclude (example_id VARCHAR)")
    excluded = [[example_id] for example_id in exclude]
    if excluded:
        con.executemany("INSERT INTO queue_exclude VALUES (?)", excluded)
    wanted = [(c, v, p, per_slice_cap) for c, v, p in slices]
    wanted.append((*OVERALL, 0.0, overall_cap))
    wanted = [(c, v, p, cap - already_queued.get((c, v), 0)) for c, v, p, cap in wanted]
    chosen: dict[str, QueuedExample] = {}
    for column, value, priority, cap in sorted(wanted, key=lambda w: -w[2]):
        if cap <= 0:
            continue
        picked = _sample_slice(con, config, split_version, column, value, priority, cap)
        chosen.update((example.example_id, example) for example in picked)
        if picked:  # a later slice draws its own examples, up to its own cap
            con.executemany(
                "INSERT INTO queue_exclude VALUES (?)", [[e.example_id] for e in picked]
            )
    return sorted(chosen.values(), key=lambda e: (-e.priority, e.example_id))


def _sample_slice(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    split_version: int,
    column: str,
    value: str,
    priority: float,
    cap: int,
) -> list[QueuedExample]:
    payload = config.dataset.payload_columns
    payload_sql = ", ".join(quote_identifier(c) for c in payload)
    where, params = slice_condition(
        slice_columns_of_version(con, config, split_version), column, value
    )
    # Round-robin over (split, gold label) strata in hash order: stratified and reproducible.
    rows = con.execute(
        f"""
        SELECT example_id, split, {payload_sql} FROM (
            SELECT *, row_number() OVER (
                PARTITION BY split, label
                ORDER BY sha256({quote_literal(QUEUE_SALT)} || example_id)) AS turn
            FROM splits
            WHERE version = ? AND split IN ('dev', 'test') {where}
              AND example_id NOT IN (SELECT example_id FROM queue_exclude)
        )
        ORDER BY turn, split, sha256({quote_literal(QUEUE_SALT)} || example_id)
        LIMIT {int(cap)}
        """,
        [split_version, *params],
    ).fetchall()
    return [
        QueuedExample(
            row[0], row[1], column, value, priority, dict(zip(payload, row[2:], strict=True))
        )
        for row in rows
    ]
