"""The demo generator's entry points: plan every row of every file, then write or describe them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bayesline.demo.files import (
    FILES,
    MALFORMED_KINDS,
    assign_review_ids,
    file_bytes,
    plant_malformed,
    split_into_files,
    write_if_changed,
)
from bayesline.demo.population import RowGenerator, draw_population, plant_near_duplicates
from bayesline.demo.records import COLUMNS, SOURCES, Row
from bayesline.demo.results import DemoDataSummary, DemoExample, PlantedRow

MIN_TRAINING_ROWS = 400  # below these sizes the planted rows would dominate some files
MIN_TARGET_ROWS = 200


def check_sizes(n_training: int, n_target: int) -> None:
    """Raise ValueError unless the row counts are large enough for the planted rows."""
    for name, value in (("n_training", n_training), ("n_target", n_target)):
        _check_int(name, value)
    if n_training < MIN_TRAINING_ROWS or n_target < MIN_TARGET_ROWS:
        raise ValueError(
            f"n_training must be at least {MIN_TRAINING_ROWS} and n_target at least "
            f"{MIN_TARGET_ROWS} (got {n_training} and {n_target}): with fewer rows the planted "
            "malformed rows would make up too much of some files"
        )


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")


@dataclass(frozen=True)
class _Plan:
    files: dict[str, list[Row]]  # relative path -> rows in file order, in FILES order
    pairs: list[tuple[Row, Row]]  # near-duplicates: (original, copy)


def _plan(seed: int, n_training: int, n_target: int) -> _Plan:
    _check_int("seed", seed)
    check_sizes(n_training, n_target)
    gen = RowGenerator(seed)
    n_web = round(n_training * 2 / 3)
    sizes = {"web_reviews": n_web, "partner_feed": n_training - n_web, "app_reviews": n_target}
    users, rows = draw_population(gen, sizes)
    pairs = plant_near_duplicates(gen.rng("near-duplicates"), rows)
    files = split_into_files(rows, sizes)
    plant_malformed(gen, files, users)
    assign_review_ids(files)
    return _Plan(files, pairs)


def build_demo_examples(
    seed: int = 7, n_training: int = 6000, n_target: int = 3000
) -> tuple[DemoExample, ...]:
    """The well-formed rows `generate_demo_data` writes for these arguments, with the label
    before noise and the style of each text (for analysing noise and difficulty)."""
    plan = _plan(seed, n_training, n_target)
    return tuple(
        DemoExample(
            _written_values(row),
            row.source,
            relpath,
            row.true_sentiment,
            row.style,
        )
        for relpath, rows in plan.files.items()
        for row in rows
        if row.kind is None
    )


def _written_values(row: Row) -> dict[str, str]:
    """A well-formed row's COLUMNS as written (only a planted row holds a None label)."""
    pairs = zip(COLUMNS, row.values(), strict=True)
    return {column: value for column, value in pairs if value is not None}


def generate_demo_data(
    landing_dir: Path, seed: int = 7, n_training: int = 6000, n_target: int = 3000
) -> DemoDataSummary:
    """Write the demo landing files under `landing_dir/<source>/` and say what they hold.

    `n_training` and `n_target` count the well-formed rows of the training sources
    (web_reviews two thirds, partner_feed one third) and of the target source app_reviews;
    the planted malformed rows come on top. The same arguments give the same bytes on every
    run (with the same Python and pyarrow versions: Parquet files record their writer).
    """
    landing_dir = Path(landing_dir)
    plan = _plan(seed, n_training, n_target)
    changed = []
    for spec in FILES:
        path = landing_dir / spec.relpath
        if write_if_changed(path, file_bytes(spec, plan.files[spec.relpath])):
            changed.append(path)
    return _summarise(landing_dir, plan, tuple(changed))


def _summarise(landing_dir: Path, plan: _Plan, changed: tuple[Path, ...]) -> DemoDataSummary:
    rows_written: Counter[str] = Counter()
    rows_per_file: dict[str, int] = {}
    planted: list[PlantedRow] = []
    for spec in FILES:
        rows = plan.files[spec.relpath]
        rows_written[spec.source] += len(rows)
        rows_per_file[spec.relpath] = len(rows)
        planted += [
            PlantedRow(spec.relpath, line, row.kind, row.review_id)
            for line, row in enumerate(rows, start=spec.first_line)
            if row.kind
        ]
    kinds = Counter(row.kind for row in planted)
    flipped = Counter(
        row.source
        for rows in plan.files.values()
        for row in rows
        if row.kind is None and row.sentiment != row.true_sentiment
    )
    return DemoDataSummary(
        landing_dir=landing_dir,
        files=tuple(landing_dir / spec.relpath for spec in FILES),
        rows_written={source: rows_written[source] for source in SOURCES},
        rows_per_file=rows_per_file,
        malformed={kind: kinds[kind] for kind in MALFORMED_KINDS},
        planted=tuple(planted),
        labels_flipped={source: flipped[source] for source in SOURCES},
        near_duplicates=tuple((a.review_id, b.review_id) for a, b in plan.pairs),
        files_changed=changed,
    )
