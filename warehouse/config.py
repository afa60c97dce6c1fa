"""Load and validate `bayesline.toml`, the description of the dataset a warehouse holds."""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import shlex
import string
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from deployment.errors import BayeslineError
from deployment.settings import ENGINE_ENV, config_path, engine_name
from warehouse.split_names import (
    DISTRIBUTION_SPLITS,
    TARGET_SPLITS,
    TRAINING_SPLITS,
    SplitName,
)

FRACTION_TOLERANCE = 1e-6
#: What a later delivery of an id with other content does (see warehouse/revisions.py).
CHANGED_ROW_POLICIES = ("update", "quarantine")


class ConfigError(BayeslineError, ValueError):
    """The configuration is invalid; the message says what to change."""


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    label_column: str
    labels: tuple[str, ...]
    text_columns: tuple[str, ...] = ()
    image_columns: tuple[str, ...] = ()
    id_column: str | None = None
    group_column: str | None = None
    slice_columns: tuple[str, ...] = ()
    #: A later delivery of an id with other content: "update" (the latest delivery wins, the
    #: earlier revision is kept) or "quarantine" (rejected, for someone to review).
    on_changed_row: str = "update"

    @property
    def payload_columns(self) -> tuple[str, ...]:
        return self.text_columns + self.image_columns

    @property
    def input_columns(self) -> tuple[str, ...]:
        """Columns every landing file must have."""
        optional = tuple(c for c in (self.id_column, self.group_column) if c)
        return (*optional, self.label_column, *self.payload_columns, *self.slice_columns)


@dataclass(frozen=True)
class SplitConfig:
    salt: str
    target: dict[SplitName, float]
    training: dict[SplitName, float]


@dataclass(frozen=True)
class QualityConfig:
    max_batch_reject_rate: float = 0.2
    min_examples_per_split: int = 1
    max_label_drift: float = 0.25
    #: DuckDB's memory cap while the quality gate runs, in MiB (BAYESLINE_MEMORY_LIMIT, when
    #: set, wins): ten million ids grouped want about 2 GiB; capped, DuckDB spills instead.
    gate_memory_limit_mb: int = 1024


@dataclass(frozen=True)
class EvaluationConfig:
    """How models are evaluated and diagnosed."""

    #: Human-level error (a fraction) used until human baselines exist; None: not configured.
    human_level_error: float | None = None
    #: Slices smaller than this are never reported as low-performing (too noisy).
    min_slice_size: int = 30
    #: Also analyse every pair of slice columns (e.g. channel x language).
    slice_pairs: bool = False
    #: Family-wise error rate for flagging low-performing slices (Holm's method).
    alpha: float = 0.05
    #: A gap (bias, variance, mismatch, dev overfitting) is a problem to work on only when it
    #: is at least this share of the largest real gap; half reproduces Ng's worked examples
    #: (see evaluation/diagnosis.py).
    material_gap_share: float = 0.5
    #: ... and at least this large (0.005: half a percentage point) ...
    material_gap_floor: float = 0.005
    #: ... and, with example counts, above zero at this one-sided confidence.
    material_gap_confidence: float = 0.95
    #: The built-in baseline trains on at most this many train examples (a sample fixed by
    #: md5 of the example id): a yardstick model gains little beyond it, and memory stays flat.
    baseline_max_train_rows: int = 200_000
    #: Your own model for the learning curves: a command run once per training-set size, with
    #: {train}, {predict} and {output} replaced by file paths (see evaluation/training_hook.py).
    #: None: the built-in baseline.
    training_command: str | None = None


@dataclass(frozen=True)
class LabelingConfig:
    """How examples are queued for people in Label Studio."""

    project_title: str = "Bayesline human-level baseline"
    #: Annotators per task: human-level error is measured from several people's labels.
    overlap: int = 3
    per_slice_cap: int = 50
    overall_cap: int = 100
    #: A gold label is proposed for review when at least this many annotators labelled the
    #: example, their consensus disagrees with it at this confidence or more, and this share
    #: of them voted for the consensus (0.75: one dissent among three already blocks it).
    review_min_annotators: int = 3
    review_min_confidence: float = 0.9
    review_min_agreement: float = 0.75
    #: Demo only: simulated annotators (name -> error rate) label the queue, marked simulated.
    simulated_annotators: dict[str, float] = field(default_factory=dict)


#: What the edges of a numeric slice column are: numbers, dates or timestamps.
EdgeKind = Literal["number", "date", "timestamp"]
EDGE_KINDS: tuple[EdgeKind, ...] = ("number", "date", "timestamp")


@dataclass(frozen=True)
class SliceEdges:
    """Cut points a user gives for one slice column (warehouse/slice_bins.py bins by them)."""

    kind: EdgeKind
    #: Strictly increasing, as SQL-ready text: "18", "0.5", "2024-01-01", "2024-01-01 08:00:00".
    values: tuple[str, ...]


@dataclass(frozen=True)
class SliceConfig:
    """How slice columns become slices (see warehouse/slice_bins.py)."""

    #: Numeric and date slice columns are cut into at most this many quantile bins.
    quantile_bins: int = 5
    #: A text slice column with more distinct values than this is refused: bin, map or drop it.
    max_distinct_values: int = 50
    #: Numeric-looking columns (codes, ids) to slice by their values instead of binning.
    by_value: tuple[str, ...] = ()
    #: Column -> the user's own cut points, used instead of quantiles.
    edges: dict[str, SliceEdges] = field(default_factory=dict)


@dataclass(frozen=True)
class BayeslineConfig:
    dataset: DatasetConfig
    target_sources: tuple[str, ...]
    splits: SplitConfig
    quality: QualityConfig = field(default_factory=QualityConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    labeling: LabelingConfig = field(default_factory=LabelingConfig)
    source_path: Path | None = None
    slices: SliceConfig = field(default_factory=SliceConfig)

    def distribution_of(self, source: str) -> str:
        return "target" if source in self.target_sources else "training"

    def fingerprint(self) -> str:
        """A sha256 of everything that shapes the data (recorded in every manifest)."""
        payload = asdict(self)
        payload.pop("source_path")
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


_SCHEMA: dict[str, set[str]] = {
    "": {"dataset", "sources", "splits", "quality", "evaluation", "labeling", "slices"},
    "dataset": {
        "name",
        "id_column",
        "label_column",
        "labels",
        "text_columns",
        "image_columns",
        "group_column",
        "slice_columns",
        "on_changed_row",
    },
    "sources": {"target"},
    "splits": {"salt", "target", "training"},
    "splits.target": set(TARGET_SPLITS),
    "splits.training": set(TRAINING_SPLITS),
    "quality": {
        "max_batch_reject_rate",
        "min_examples_per_split",
        "max_label_drift",
        "gate_memory_limit_mb",
    },
    "evaluation": {
        "human_level_error",
        "min_slice_size",
        "slice_pairs",
        "alpha",
        "material_gap_share",
        "material_gap_floor",
        "material_gap_confidence",
        "baseline_max_train_rows",
        "training_command",
    },
    "slices": {"quantile_bins", "max_distinct_values", "by_value", "edges"},
    "labeling": {
        "project_title",
        "overlap",
        "per_slice_cap",
        "overall_cap",
        "simulated_annotators",
        "review_min_annotators",
        "review_min_confidence",
        "review_min_agreement",
    },
}


def config_path_from_env() -> Path:
    return config_path()


#: What computes split assignment and slice metrics: DuckDB on the writing machine (the
#: default), or Spark (warehouse/spark_splits.py, evaluation/spark_slices.py).
ENGINES = ("duckdb", "spark")


def compute_engine() -> str:
    """The engine BAYESLINE_ENGINE names (duckdb when unset); the one place it is read.

    An environment setting, not part of bayesline.toml: the engine changes where the work
    runs, never its result, so it stays out of the config fingerprint every manifest records.
    """
    engine = (engine_name() or ENGINES[0]).lower()
    if engine not in ENGINES:
        raise ConfigError(
            f"{ENGINE_ENV}={engine_name()!r} is not an engine: set it to "
            f"{' or '.join(ENGINES)}, or unset it for duckdb."
        )
    return engine


def load_config(path: Path | str | None = None) -> BayeslineConfig:
    """Read and validate a bayesline.toml; raise ConfigError naming the problem and the fix."""
    path = Path(path) if path else config_path_from_env()
    if not path.is_file():
        raise ConfigError(
            f"No Bayesline config at {path}. Copy bayesline.toml from the repository root, "
            "or point BAYESLINE_CONFIG at yours."
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return parse_config(raw, source_path=path)


def parse_config(raw: dict[str, Any], source_path: Path | None = None) -> BayeslineConfig:
    where = str(source_path or "config")
    _reject_unknown_keys(raw, "", where)
    for section in ("dataset", "sources", "splits"):
        if section not in raw:
            raise ConfigError(f"{where}: missing the [{section}] section.")
    dataset = _parse_dataset(raw["dataset"], where)
    target_sources = tuple(_string_list(raw["sources"], "target", where, "sources"))
    if not target_sources:
        raise ConfigError(
            f"{where}: [sources] target is empty; name the landing folders whose data is the "
            "target distribution (dev and test come only from them)."
        )
    splits = _parse_splits(raw["splits"], where)
    quality = _parse_quality(raw.get("quality", {}), where)
    evaluation = _parse_evaluation(raw.get("evaluation", {}), where)
    labeling = _parse_labeling(raw.get("labeling", {}), where)
    slices = _parse_slices(raw.get("slices", {}), dataset, where)
    return BayeslineConfig(
        dataset, target_sources, splits, quality, evaluation, labeling, source_path, slices
    )


def _parse_slices(section: dict[str, Any], dataset: DatasetConfig, where: str) -> SliceConfig:
    for key in ("quantile_bins", "max_distinct_values"):
        value = section.get(key, 2)
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ConfigError(f"{where}: [slices] {key} must be a whole number of at least 2.")
    by_value = tuple(_string_list(section, "by_value", where, "slices"))
    edges_table = section.get("edges", {})
    if not isinstance(edges_table, dict):
        raise ConfigError(
            f"{where}: [slices] edges is a table of column = [cut points], e.g. "
            "[slices.edges] customer_age = [18, 30, 45, 65]."
        )
    named = {"by_value": by_value, "edges": tuple(edges_table)}
    for key, columns in named.items():
        unknown = [c for c in columns if c not in dataset.slice_columns]
        if unknown:
            raise ConfigError(
                f"{where}: [slices] {key} names {', '.join(unknown)}, not in [dataset] "
                "slice_columns; add it there or remove it here."
            )
    both = sorted(set(by_value) & set(edges_table))
    if both:
        raise ConfigError(
            f"{where}: [slices] {', '.join(both)} is both in by_value and given edges; "
            "keep one: values or bins."
        )
    edges = {c: _slice_edges(c, v, where) for c, v in edges_table.items()}
    return SliceConfig(
        quantile_bins=section.get("quantile_bins", SliceConfig.quantile_bins),
        max_distinct_values=section.get("max_distinct_values", SliceConfig.max_distinct_values),
        by_value=by_value,
        edges=edges,
    )


def _slice_edges(column: str, values: Any, where: str) -> SliceEdges:
    """Validated cut points: all numbers, all dates or all timestamps, strictly increasing."""
    hint = (
        f"{where}: [slices.edges] {column} must be a list of increasing cut points, all numbers "
        "(customer_age = [18, 30, 45, 65]) or all dates (signup = [2024-01-01, 2024-07-01])"
    )
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{hint}, not {values!r}.")
    try:
        parsed = [_edge_value(v) for v in values]
    except ValueError as exc:
        raise ConfigError(f"{hint}; {exc}.") from exc
    kinds = {kind for kind, _ in parsed}
    if len(kinds) > 1:
        raise ConfigError(f"{hint}; it mixes {' and '.join(sorted(k + 's' for k in kinds))}.")
    points = [point for _, point in parsed]
    if any(b <= a for a, b in itertools.pairwise(points)):
        raise ConfigError(f"{hint}; {values!r} is not strictly increasing.")
    kind = kinds.pop()
    return SliceEdges(kind, tuple(format_edge(kind, point) for point in points))


def _edge_value(value: Any) -> tuple[EdgeKind, Any]:
    """(kind, comparable value) of one cut point: a TOML number, date or datetime, or an ISO
    date or timestamp written as a string."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a cut point")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite number")
        return "number", value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is neither a number nor an ISO date") from None
    if isinstance(value, datetime):
        return "timestamp", value.replace(tzinfo=None)
    if isinstance(value, date):
        return "date", value
    raise ValueError(f"{value!r} is not a cut point")


def format_edge(kind: str, value: float | date) -> str:
    """An edge as slice values show it and SQL reads it: 45, 0.25, 2024-01-01."""
    if isinstance(value, datetime) and kind == "timestamp":
        return value.isoformat(sep=" ")
    if isinstance(value, date):  # a date, or a timestamp of a column read as dates
        return value.isoformat()
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def _parse_quality(section: dict[str, Any], where: str) -> QualityConfig:
    for key, value in section.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: [quality] {key} must be a number, not {value!r}.")
    quality = QualityConfig(**section)
    for key in ("max_batch_reject_rate", "max_label_drift"):
        if not 0 <= getattr(quality, key) <= 1:
            raise ConfigError(f"{where}: [quality] {key} is a fraction in [0, 1] (0.2 for 20%).")
    if not isinstance(quality.gate_memory_limit_mb, int) or quality.gate_memory_limit_mb < 64:
        raise ConfigError(
            f"{where}: [quality] gate_memory_limit_mb is whole MiB, at least 64 (1024: 1 GiB)."
        )
    return quality


def _parse_labeling(section: dict[str, Any], where: str) -> LabelingConfig:
    labeling = LabelingConfig(**section)
    if labeling.overlap < 1:
        raise ConfigError(f"{where}: [labeling] overlap is the annotators per task, at least 1.")
    bad = {k: v for k, v in labeling.simulated_annotators.items() if not 0 <= v <= 1}
    if bad:
        raise ConfigError(
            f"{where}: [labeling] simulated_annotators error rates must be fractions: {bad}."
        )
    if isinstance(labeling.review_min_annotators, bool) or labeling.review_min_annotators < 2:
        raise ConfigError(f"{where}: [labeling] review_min_annotators must be at least 2.")
    for key in ("review_min_confidence", "review_min_agreement"):
        value = getattr(labeling, key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise ConfigError(f"{where}: [labeling] {key} is a fraction in (0, 1], not {value!r}.")
    return labeling


def _parse_evaluation(section: dict[str, Any], where: str) -> EvaluationConfig:
    evaluation = EvaluationConfig(**section)
    human = evaluation.human_level_error
    if human is not None and not 0 <= human < 1:
        raise ConfigError(
            f"{where}: [evaluation] human_level_error is a fraction in [0, 1) (0.02 for 2%), "
            f"not {human}."
        )
    if not 0 < evaluation.alpha < 1:
        raise ConfigError(f"{where}: [evaluation] alpha must lie in (0, 1).")
    share = evaluation.material_gap_share
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise ConfigError(
            f"{where}: [evaluation] material_gap_share is a fraction in [0, 1] (0.5: a gap is "
            f"a problem when at least half the largest), not {share!r}."
        )
    floor = evaluation.material_gap_floor
    if isinstance(floor, bool) or not isinstance(floor, int | float) or not 0 <= floor < 1:
        raise ConfigError(
            f"{where}: [evaluation] material_gap_floor is a fraction in [0, 1) (0.005: half a "
            f"percentage point), not {floor!r}."
        )
    level = evaluation.material_gap_confidence
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0.5 < level < 1:
        raise ConfigError(
            f"{where}: [evaluation] material_gap_confidence is a one-sided level in (0.5, 1) "
            f"(0.95), not {level!r}."
        )
    if evaluation.baseline_max_train_rows < 1:
        raise ConfigError(f"{where}: [evaluation] baseline_max_train_rows must be at least 1.")
    if evaluation.training_command is not None:
        _check_training_command(evaluation.training_command, where)
    return evaluation


TRAINING_COMMAND_FIELDS = ("train", "predict", "output")


def _check_training_command(command: object, where: str) -> None:
    """A command line with {train}, {predict} and {output}, each once, and no other field."""
    example = 'training_command = "python my_model.py {train} {predict} {output}"'
    if not isinstance(command, str) or not command.strip():
        raise ConfigError(f"{where}: [evaluation] training_command is a command line: {example}.")
    try:
        words = shlex.split(command)
        fields = [name for _, name, _, _ in string.Formatter().parse(command) if name is not None]
    except ValueError as exc:
        raise ConfigError(
            f"{where}: [evaluation] training_command cannot be read ({exc}); write it like "
            f"{example}."
        ) from exc
    unknown = sorted(set(fields) - set(TRAINING_COMMAND_FIELDS))
    missing = [f for f in TRAINING_COMMAND_FIELDS if f not in fields]
    if unknown or missing or len(fields) != len(set(fields)) or not words:
        problem = "; ".join(
            part
            for part in (
                f"unknown field(s) {', '.join('{' + f + '}' for f in unknown)}" if unknown else "",
                f"missing {', '.join('{' + f + '}' for f in missing)}" if missing else "",
                "a field given twice" if len(fields) != len(set(fields)) else "",
            )
            if part
        )
        raise ConfigError(
            f"{where}: [evaluation] training_command needs {{train}}, {{predict}} and "
            f"{{output}} once each ({problem or 'it is empty'}); for example {example}."
        )


def _reject_unknown_keys(table: dict[str, Any], prefix: str, where: str) -> None:
    allowed = _SCHEMA.get(prefix)
    if allowed is None:
        return
    unknown = sorted(set(table) - allowed)
    if unknown:
        section = f"[{prefix}]" if prefix else "the top level (before any [section])"
        keys = "; ".join(_unknown_key(key, allowed) for key in unknown)
        raise ConfigError(
            f"{where}: unknown key(s) in {section}: {keys}. "
            f"Allowed in {section}: {', '.join(sorted(allowed))}."
        )
    for key, value in table.items():
        if isinstance(value, dict):
            _reject_unknown_keys(value, f"{prefix}.{key}" if prefix else key, where)


def _unknown_key(key: str, allowed: set[str]) -> str:
    """'lable_column (did you mean label_column?)', or the key alone if nothing is close."""
    close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
    return f"{key} (did you mean {close[0]}?)" if close else key


def _parse_dataset(section: dict[str, Any], where: str) -> DatasetConfig:
    for key in ("name", "label_column", "labels"):
        if key not in section:
            raise ConfigError(f"{where}: [dataset] needs '{key}'.")
    dataset = DatasetConfig(
        name=str(section["name"]),
        label_column=str(section["label_column"]),
        labels=tuple(str(v) for v in _string_list(section, "labels", where, "dataset")),
        text_columns=tuple(_string_list(section, "text_columns", where, "dataset")),
        image_columns=tuple(_string_list(section, "image_columns", where, "dataset")),
        id_column=section.get("id_column") or None,
        group_column=section.get("group_column") or None,
        slice_columns=tuple(_string_list(section, "slice_columns", where, "dataset")),
        on_changed_row=str(section.get("on_changed_row", "update")),
    )
    if dataset.on_changed_row not in CHANGED_ROW_POLICIES:
        raise ConfigError(
            f"{where}: [dataset] on_changed_row is {dataset.on_changed_row!r}; use "
            '"update" (the latest delivery of an id wins) or "quarantine" (changes are '
            "rejected for review)."
        )
    if not dataset.payload_columns:
        raise ConfigError(
            f"{where}: [dataset] needs at least one payload column in text_columns or "
            "image_columns."
        )
    if len(set(dataset.labels)) < 2:
        raise ConfigError(f"{where}: [dataset] labels needs at least two distinct labels.")
    columns = dataset.input_columns
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ConfigError(f"{where}: column(s) {', '.join(repeated)} are given more than one role.")
    return dataset


def _parse_splits(section: dict[str, Any], where: str) -> SplitConfig:
    if not str(section.get("salt", "")).strip():
        raise ConfigError(f"{where}: [splits] needs a non-empty 'salt'.")
    fractions = {}
    for distribution, names in DISTRIBUTION_SPLITS.items():
        table = section.get(distribution)
        if not isinstance(table, dict):
            raise ConfigError(
                f"{where}: missing [splits.{distribution}] with fractions for {', '.join(names)}."
            )
        values = {name: float(table.get(name, 0.0)) for name in names}
        if any(v < 0 or v > 1 for v in values.values()):
            raise ConfigError(f"{where}: [splits.{distribution}] fractions must lie in [0, 1].")
        total = sum(values.values())
        if abs(total - 1.0) > FRACTION_TOLERANCE:
            shown = ", ".join(f"{k} = {v:g}" for k, v in values.items())
            raise ConfigError(
                f"{where}: [splits.{distribution}] fractions sum to {total:g}, not 1 ({shown}); "
                f"change them in [splits.{distribution}] so that they add up to 1."
            )
        fractions[distribution] = values
    if fractions["target"]["dev"] <= 0 or fractions["target"]["test"] <= 0:
        raise ConfigError(f"{where}: [splits.target] needs dev > 0 and test > 0.")
    return SplitConfig(str(section["salt"]), fractions["target"], fractions["training"])


def _string_list(section: dict[str, Any], key: str, where: str, name: str) -> list[str]:
    value = section.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise ConfigError(f"{where}: [{name}] {key} must be a list of strings.")
    return [str(v) for v in value]
