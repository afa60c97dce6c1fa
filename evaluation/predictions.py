"""Registering a model's predictions on a published split version.

Users bring their own model: a Parquet, CSV or JSON lines file with `example_id`,
`predicted_label`, an optional `score` (the model's probability for its predicted label) and
optionally one probability per label, as `prob_<label>` columns or, in JSON lines, a `probs`
object, and optionally `in_training_set` (was the model fit on this train example?).
Probabilities are stored as one `probs` map (label -> probability). DuckDB reads and checks it
(never pandas) against the split version and the label set, and it is written to
lake/predictions/<model version>__v<NNNN>.parquet. A model version + split version pair is
immutable: the same content again is a no-op, different content is refused, so every number
computed from a pair can be recomputed later and come out the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import duckdb

from deployment.errors import BayeslineError
from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_identifier, quote_literal
from warehouse.lake_tables import PREDICTIONS
from warehouse.layout import WarehouseLayout
from warehouse.schema import PREDICTION_COLUMNS
from warehouse.split_names import SPLITS
from warehouse.splits import published_versions, version_location
from warehouse.sql_results import fetch_count, fetch_row
from warehouse.storage import (
    copy_to_lake,
    lake_files,
    lake_table_sql,
    writer_connection,
    writer_lock,
)

REQUIRED_COLUMNS = ("example_id", "predicted_label")
FIT_COLUMN = "in_training_set"
FIT_VALUES = {"true": True, "1": True, "false": False, "0": False}  # as written, lower-cased
PROB_PREFIX = "prob_"
SUM_TOLERANCE = 1e-6  # a row's probabilities must sum to 1 within this
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
MAX_NAME_CHARS = 150  # the escaped name plus "__vNNNN.parquet" stays under 255 bytes
SHOWN = 5  # offending ids quoted in an error message


class PredictionsError(BayeslineError, ValueError):
    """The predictions cannot be registered; the message says why and what to do."""


class MissingPredictionsError(BayeslineError, FileNotFoundError):
    """No predictions are registered for the model version on the split version."""


@dataclass(frozen=True)
class PredictionsSummary:
    """What registering one predictions file did."""

    model_version: str
    split_version: int
    rows: int
    covered: dict[str, int] = field(default_factory=dict)  # split -> examples predicted
    split_sizes: dict[str, int] = field(default_factory=dict)  # split -> examples in it
    created: bool = False  # False: this exact content was already registered
    path: Path | None = None
    source: Path | None = None
    error: str | None = None  # a landed file that was not registered, and why
    with_probs: bool = False  # the file gave a probability per label
    not_argmax: int = 0  # predictions that are not their row's most probable label
    fitted_train: int | None = None  # train predictions marked in_training_set; None: not said

    @property
    def message(self) -> str:
        if self.error:
            return f"{self.source}: not registered: {self.error}"
        coverage = ", ".join(
            f"{s} {self.covered.get(s, 0):,}/{self.split_sizes.get(s, 0):,}" for s in SPLITS
        )
        done = "registered" if self.created else "already registered, nothing changed:"
        probs = " with class probabilities" if self.with_probs else ""
        message = (
            f"{done} {self.model_version} on split v{self.split_version}: "
            f"{self.rows:,} predictions{probs} (covered: {coverage})"
        )
        if self.fitted_train is not None:
            message += (
                f"; the model was fit on {self.fitted_train:,} of its "
                f"{self.covered.get('train', 0):,} train predictions (in_training_set)"
            )
        if self.not_argmax:
            message += (
                f"; {self.not_argmax:,} predicted label(s) are not the most probable one, so "
                "the model thresholds differently: both are stored as given"
            )
        return message


def safe_model_version(model_version: str) -> str:
    """The file-name form of a model version: path characters are percent-escaped, so two
    versions never share a file and no version reaches outside the predictions directory."""
    if not isinstance(model_version, str) or not model_version.strip():
        raise PredictionsError("the model version is empty: name it, e.g. 'bert-base-2024-06-01'")
    if model_version != model_version.strip() or not model_version.isprintable():
        raise PredictionsError(
            f"model version {model_version!r} has leading/trailing spaces or control "
            "characters: remove them"
        )
    escaped = quote(model_version, safe="-_.+")
    if escaped.startswith("."):
        escaped = "%2E" + escaped[1:]  # a leading dot would hide the file from lake globs
    if len(escaped) > MAX_NAME_CHARS:
        raise PredictionsError(f"model version {model_version[:40]!r}... is too long: shorten it")
    return escaped


def predictions_path(layout: WarehouseLayout, model_version: str, split_version: int) -> Path:
    name = f"{safe_model_version(model_version)}__v{split_version:04d}.parquet"
    return layout.table_dir(PREDICTIONS) / name


def require_predictions(layout: WarehouseLayout, model_version: str, split_version: int) -> Path:
    """The pair's predictions file; MissingPredictionsError saying how to register it if absent."""
    path = predictions_path(layout, model_version, split_version)
    if not layout.store.holds(path):
        raise MissingPredictionsError(
            f"no predictions for model version {model_version!r} on split version "
            f"{split_version}: register them first (`bayesline predictions add`)"
        )
    return path


def predictions_location(layout: WarehouseLayout, model_version: str, split_version: int) -> str:
    """Where the pair's predictions file lives: its path, or its s3:// URL."""
    return layout.store.location_of(predictions_path(layout, model_version, split_version))


def register_predictions(
    layout: WarehouseLayout,
    config: BayeslineConfig,
    source: Path,
    model_version: str,
    split_version: int,
) -> PredictionsSummary:
    """Check a predictions file and store it for (model_version, split_version)."""
    safe_model_version(model_version)  # refuse a bad name before reading anything
    layout.ensure()
    with writer_lock(layout), writer_connection(layout) as con:
        columns = stage_predictions_file(con, Path(source))
        return register_staged_predictions(
            con, layout, config, Path(source), columns, model_version, split_version
        )


def list_model_versions(layout: WarehouseLayout) -> list[tuple[str, int]]:
    """Every registered (model_version, split_version) pair, sorted."""
    with duckdb.connect() as con:
        create_predictions_view(con, layout)
        rows = con.execute(
            "SELECT DISTINCT model_version, split_version FROM predictions"
        ).fetchall()
    return sorted((model, int(version)) for model, version in rows)


def create_predictions_view(con: duckdb.DuckDBPyConnection, layout: WarehouseLayout) -> None:
    """A `predictions` view over every registered predictions file (empty but typed if none)."""
    files = lake_files(con, layout, layout.table_dir(PREDICTIONS) / "*.parquet")
    if files:
        # Files registered before a column existed (immutable) read it as NULL.
        body = f"SELECT * FROM {lake_table_sql(files, PREDICTION_COLUMNS)}"
    else:
        typed = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in PREDICTION_COLUMNS.items())
        body = f"SELECT {typed} WHERE false"
    con.execute(f"CREATE OR REPLACE VIEW predictions AS {body}")


def stage_predictions_file(con: duckdb.DuckDBPyConnection, source: Path) -> list[str]:
    """Read the file into temp table `incoming_raw`; return its lower-cased column names."""
    if not source.is_file():
        raise PredictionsError(f"no predictions file at {source}")
    suffix = source.suffix.lower()
    if suffix == ".parquet":
        reader = f"read_parquet({quote_literal(str(source))})"
    elif suffix == ".csv":
        # Every column as text, so ids such as 007 keep their leading zeros.
        reader = f"read_csv({quote_literal(str(source))}, header = true, all_varchar = true)"
    elif suffix in JSON_SUFFIXES:
        reader = f"read_json({quote_literal(str(source))}, format = 'newline_delimited')"
    else:
        raise PredictionsError(
            f"{source.name}: unsupported file type '{suffix}'; give a Parquet (.parquet), CSV "
            "(.csv) or JSON lines (.jsonl) file with columns example_id, predicted_label and "
            "optionally score, prob_<label> and in_training_set"
        )
    if source.stat().st_size == 0:
        raise PredictionsError(f"{source.name} is empty: it holds no predictions")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE incoming_raw AS SELECT * FROM {reader}")
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise PredictionsError(f"DuckDB could not read {source.name}: {first_line}") from exc
    columns = [row[0].lower() for row in con.execute("DESCRIBE incoming_raw").fetchall()]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise PredictionsError(
            f"{source.name} lacks column(s) {', '.join(missing)} (it has: {', '.join(columns)}); "
            "a predictions file needs example_id and predicted_label, and optionally score"
        )
    if "probs" in columns:
        columns = _spread_probs_object(con, source, columns)
    return columns


def _spread_probs_object(
    con: duckdb.DuckDBPyConnection, source: Path, columns: list[str]
) -> list[str]:
    """A `probs` object (JSON lines) or map (a stored file) becomes prob_<label> columns, so
    both forms are checked by the same code."""
    if any(c.startswith(PROB_PREFIX) for c in columns):
        raise PredictionsError(
            f"{source.name} gives probabilities twice, as a probs object and as prob_<label> "
            "columns: keep one of the two"
        )
    keys = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT unnest(json_keys(to_json(probs))) AS k FROM incoming_raw ORDER BY k"
        ).fetchall()
    ]
    spread = ", ".join(
        f"(to_json(probs) ->> {quote_literal(key)}) AS {quote_identifier(PROB_PREFIX + key)}"
        for key in keys
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE incoming_raw AS "
        f"SELECT * EXCLUDE (probs){', ' + spread if spread else ''} FROM incoming_raw"
    )
    return [c for c in columns if c != "probs"] + [(PROB_PREFIX + k).lower() for k in keys]


def register_staged_predictions(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    config: BayeslineConfig,
    source: Path,
    columns: list[str],
    model_version: str,
    split_version: int,
) -> PredictionsSummary:
    """Check the file staged by `stage_predictions_file` and store it for the pair."""
    _check_declared(con, source, columns, "model_version", model_version)
    _check_declared(con, source, columns, "split_version", split_version)
    _check_split_version(layout, split_version)
    prob_columns = _prob_columns(source, columns, config.dataset.labels)
    _normalise(con, columns, prob_columns)
    _load_split_ids(con, layout, split_version)
    _validate(con, config, source, split_version)
    if prob_columns:
        _validate_probs(con, source)
    if FIT_COLUMN in columns:
        _validate_training_marks(con, source)
    rows = fetch_count(con, "SELECT count(*) FROM incoming")
    covered, sizes = _coverage(con)
    final = predictions_path(layout, model_version, split_version)
    created = not layout.store.holds(final)
    if created:
        _write(con, layout, final, model_version, split_version)
    elif not _same_content(con, layout.store.location_of(final)):
        raise PredictionsError(
            f"model version {model_version!r} is already registered on split version "
            f"{split_version} with different predictions ({final.name}); a registered pair is "
            "immutable: use a new model version"
        )
    return PredictionsSummary(
        model_version,
        split_version,
        rows,
        covered,
        sizes,
        created,
        final,
        source,
        with_probs=bool(prob_columns),
        not_argmax=_not_argmax(con) if prob_columns else 0,
        fitted_train=_fitted_train(con) if FIT_COLUMN in columns else None,
    )


def _check_declared(
    con: duckdb.DuckDBPyConnection,
    source: Path,
    columns: list[str],
    column: str,
    expected: str | int,
) -> None:
    """A model_version / split_version column in the file must agree with the arguments."""
    if column not in columns:
        return
    found = con.execute(
        f"SELECT DISTINCT coalesce(CAST({column} AS VARCHAR), '(empty)') FROM incoming_raw "
        f"ORDER BY 1 LIMIT {SHOWN}"
    ).fetchall()
    # Compare split versions as numbers, so a file saying 0001 or 1.0 means version 1.
    same = _same_int if column == "split_version" else str.__eq__
    wrong = [value for (value,) in found if not same(value, str(expected))]
    if wrong:
        raise PredictionsError(
            f"{source.name} says {column} {wrong[0]!r} but you registered {str(expected)!r}: "
            f"fix the file's {column} column or register it as {column} {wrong[0]!r}"
        )


def _same_int(found: str, expected: str) -> bool:
    try:
        return float(found) == int(expected)
    except ValueError:
        return False


def _check_split_version(layout: WarehouseLayout, split_version: int) -> None:
    versions = published_versions(layout)
    if split_version not in versions:
        shown = ", ".join(str(v) for v in versions) or "none yet (publish splits first)"
        raise PredictionsError(
            f"split version {split_version} is not published; published versions: {shown}"
        )


def _prob_columns(source: Path, columns: list[str], labels: Sequence[str]) -> dict[str, str]:
    """label -> its prob_<label> column; none, or one for every label of the label set."""
    by_column = {(PROB_PREFIX + label).lower(): label for label in labels}
    given = [c for c in columns if c.startswith(PROB_PREFIX)]
    unknown = [c for c in given if c not in by_column]
    if unknown:
        raise PredictionsError(
            f"{source.name}: probability column(s) {', '.join(unknown)} name no label of the "
            f"label set ({', '.join(labels)}): rename them prob_<label> or drop them"
        )
    missing = [c for c in by_column if c not in given]
    if given and missing:
        raise PredictionsError(
            f"{source.name} lacks probability column(s) {', '.join(missing)}: give one "
            "prob_<label> column for every label, or none"
        )
    return {label: column for column, label in by_column.items()} if given else {}


def _normalise(con: duckdb.DuckDBPyConnection, columns: list[str], probs: dict[str, str]) -> None:
    """Temp table `incoming`: trimmed text ids and labels (as ingestion trims them), the score
    as given and as a number, and the probabilities as a map with their text and sum. `_row`
    is the data row: incoming_raw keeps the file's order, so its rowid numbers the rows without
    a row_number() window, which would run on one thread."""
    score_text, score = "CAST(NULL AS VARCHAR)", "CAST(NULL AS DOUBLE)"
    if "score" in columns:
        score_text, score = "nullif(trim(CAST(score AS VARCHAR)), '')", "TRY_CAST(score AS DOUBLE)"
    fit_text = "CAST(NULL AS VARCHAR)"
    if FIT_COLUMN in columns:
        fit_text = f"nullif(lower(trim(CAST({FIT_COLUMN} AS VARCHAR))), '')"
    fit_cases = " ".join(
        f"WHEN {quote_literal(k)} THEN {str(v).lower()}" for k, v in FIT_VALUES.items()
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE incoming AS
        SELECT rowid + 1 AS _row,
               nullif(trim(CAST(example_id AS VARCHAR)), '') AS example_id,
               nullif(trim(CAST(predicted_label AS VARCHAR)), '') AS predicted_label,
               {score_text} AS score_text, {score} AS score, {_probs_sql(probs)},
               {fit_text} AS fit_text, CASE {fit_text} {fit_cases} END AS in_training_set
        FROM incoming_raw
        """
    )
    con.execute("DROP TABLE incoming_raw")
    if probs:  # without a score, the probability of the predicted label is the score
        con.execute(
            "UPDATE incoming SET score = probs[predicted_label] "
            "WHERE score_text IS NULL AND probs_ok AND predicted_label IS NOT NULL"
        )


def _probs_sql(probs: dict[str, str]) -> str:
    """The `probs` map, `probs_ok` (every value a number in [0, 1]), `probs_sum` and
    `probs_text` (the values as given, for error messages)."""
    if not probs:
        return (
            "CAST(NULL AS MAP(VARCHAR, DOUBLE)) AS probs, true AS probs_ok, "
            "CAST(NULL AS DOUBLE) AS probs_sum, CAST(NULL AS VARCHAR) AS probs_text"
        )
    values = {label: f"TRY_CAST({quote_identifier(c)} AS DOUBLE)" for label, c in probs.items()}
    keys = ", ".join(quote_literal(label) for label in probs)
    ok = " AND ".join(f"coalesce({v} BETWEEN 0 AND 1, false)" for v in values.values())
    texts = ", ".join(
        f"{quote_literal(label + '=')} || coalesce(trim(CAST({quote_identifier(c)} AS VARCHAR)), "
        "'(empty)')"
        for label, c in probs.items()
    )
    return (
        f"MAP([{keys}], [{', '.join(values.values())}]) AS probs, {ok} AS probs_ok, "
        f"{' + '.join(values.values())} AS probs_sum, concat_ws(', ', {texts}) AS probs_text"
    )


def _load_split_ids(
    con: duckdb.DuckDBPyConnection, layout: WarehouseLayout, split_version: int
) -> None:
    files = quote_literal(version_location(layout, split_version, "*.parquet"))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE split_ids AS "
        f"SELECT example_id, split FROM read_parquet({files})"
    )


def _validate(
    con: duckdb.DuckDBPyConnection, config: BayeslineConfig, source: Path, split_version: int
) -> None:
    """Raise PredictionsError on the first problem, naming a few offending ids."""
    name = source.name
    if fetch_count(con, "SELECT count(*) FROM incoming") == 0:
        raise PredictionsError(f"{name} has no rows: it holds no predictions")
    labels = ", ".join(quote_literal(label) for label in config.dataset.labels)
    checks = [
        (
            "SELECT 'data row ' || CAST(_row AS VARCHAR) FROM incoming WHERE example_id IS NULL",
            "row(s) have an empty example_id",
            "give every prediction the example_id of a published example",
        ),
        (
            "SELECT example_id FROM incoming GROUP BY example_id HAVING count(*) > 1",
            "example_id(s) appear more than once",
            "keep one prediction per example",
        ),
        (
            "SELECT example_id || ' -> ' || coalesce(predicted_label, '(empty)') FROM incoming "
            f"WHERE predicted_label IS NULL OR predicted_label NOT IN ({labels})",
            f"predicted label(s) are not in the label set ({', '.join(config.dataset.labels)})",
            "map your model's outputs to the dataset's labels",
        ),
        (
            "SELECT example_id || ' -> ' || score_text FROM incoming "
            "WHERE score_text IS NOT NULL AND (score IS NULL OR NOT (score BETWEEN 0 AND 1))",
            "score(s) are not probabilities in [0, 1]",
            "give the model's probability for the predicted label, or leave score empty",
        ),
        (
            "SELECT example_id FROM incoming ANTI JOIN split_ids USING (example_id)",
            f"example_id(s) are not in split version {split_version}",
            f"predict only examples of split version {split_version} (the `splits` view, "
            f"WHERE version = {split_version}), or register against the version you predicted",
        ),
    ]
    _raise_first(con, name, checks)


def _raise_first(
    con: duckdb.DuckDBPyConnection, name: str, checks: list[tuple[str, str, str]]
) -> None:
    """Raise PredictionsError for the first (query, problem, remedy) whose query finds rows."""
    for query, problem, remedy in checks:
        count = fetch_count(con, f"SELECT count(*) FROM ({query})")
        if count:
            shown = [r[0] for r in con.execute(f"{query} ORDER BY 1 LIMIT {SHOWN}").fetchall()]
            raise PredictionsError(
                f"{name}: {count:,} {problem}, e.g. {', '.join(shown)}; {remedy}"
            )


def _validate_probs(con: duckdb.DuckDBPyConnection, source: Path) -> None:
    """Every row's probabilities are numbers in [0, 1] that sum to 1."""
    checks = [
        (
            "SELECT example_id || ' -> ' || probs_text FROM incoming WHERE NOT probs_ok",
            "row(s) have a probability that is missing or not a number in [0, 1]",
            "give every row one probability per label, each in [0, 1]",
        ),
        (
            "SELECT example_id || ' (sum ' || CAST(round(probs_sum, 9) AS VARCHAR) || ')' "
            f"FROM incoming WHERE abs(probs_sum - 1) > {SUM_TOLERANCE}",
            f"row(s) have probabilities that do not sum to 1 (within {SUM_TOLERANCE:g})",
            "normalise each row (e.g. a softmax) so its probabilities sum to 1",
        ),
    ]
    _raise_first(con, source.name, checks)


def _validate_training_marks(con: duckdb.DuckDBPyConnection, source: Path) -> None:
    """in_training_set is true, false or empty; true only on train examples (a model fit on a
    held-out example cannot be measured on it); on train, given for all or none."""
    marked_train = (
        "SELECT count(*) FROM incoming JOIN split_ids USING (example_id) "
        "WHERE split = 'train' AND in_training_set IS NOT NULL"
    )
    checks = [
        (
            "SELECT example_id || ' -> ' || fit_text FROM incoming "
            "WHERE fit_text IS NOT NULL AND in_training_set IS NULL",
            "in_training_set value(s) are not true or false",
            "give true (the model was fit on the example), false, or leave it empty (unknown)",
        ),
        (
            "SELECT example_id || ' (' || split || ')' FROM incoming "
            "JOIN split_ids USING (example_id) WHERE split <> 'train' AND in_training_set",
            "prediction(s) outside train are marked in_training_set = true",
            "a model fit on train-dev, dev or test examples cannot be measured on them: refit "
            "it on train only (the `splits` view, split = 'train') or leave those predictions out",
        ),
        (
            "SELECT example_id FROM incoming JOIN split_ids USING (example_id) "
            f"WHERE split = 'train' AND in_training_set IS NULL AND ({marked_train}) > 0",
            "train prediction(s) have an empty in_training_set while others have one",
            "mark every train prediction true or false, or leave the column empty for all "
            "(then train error assumes the model saw every train example)",
        ),
    ]
    _raise_first(con, source.name, checks)


def _fitted_train(con: duckdb.DuckDBPyConnection) -> int | None:
    """Train predictions marked in_training_set = true; None when train's are not marked."""
    marked, fitted = fetch_row(
        con,
        "SELECT count(in_training_set), count_if(in_training_set) FROM incoming "
        "JOIN split_ids USING (example_id) WHERE split = 'train'",
    )
    return int(fitted) if marked else None


def _not_argmax(con: duckdb.DuckDBPyConnection) -> int:
    """Predictions whose label is not the most probable one (a model with its own threshold)."""
    return fetch_count(
        con,
        "SELECT count(*) FROM incoming "
        "WHERE probs[predicted_label] < list_max(map_values(probs)) - 1e-12",
    )


def _coverage(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], dict[str, int]]:
    rows = con.execute(
        "SELECT s.split, count(i.example_id), count(*) FROM split_ids AS s "
        "LEFT JOIN incoming AS i USING (example_id) GROUP BY s.split"
    ).fetchall()
    covered = {split: 0 for split in SPLITS} | {split: c for split, c, _ in rows}
    sizes = {split: 0 for split in SPLITS} | {split: n for split, _, n in rows}
    return covered, sizes


def _same_content(con: duckdb.DuckDBPyConnection, existing: str) -> bool:
    columns = (
        "SELECT example_id, predicted_label, score, CAST(probs AS VARCHAR) AS probs, "
        f"{FIT_COLUMN} FROM"
    )
    # A file stored before probabilities (or in_training_set) existed reads them as NULL.
    stored = f"({columns} {lake_table_sql([existing], PREDICTION_COLUMNS)})"
    fresh = f"({columns} incoming)"
    differing = fetch_count(
        con,
        f"SELECT (SELECT count(*) FROM ({fresh} EXCEPT {stored})) "
        f"+ (SELECT count(*) FROM ({stored} EXCEPT {fresh}))",
    )
    return differing == 0


def _write(
    con: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    final: Path,
    model_version: str,
    split_version: int,
) -> None:
    registered_at = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    copy_to_lake(
        con,
        layout,
        f"SELECT CAST({quote_literal(model_version)} AS VARCHAR) AS model_version, "
        f"CAST({split_version} AS INTEGER) AS split_version, example_id, predicted_label, "
        f"score, CAST({quote_literal(registered_at)} AS TIMESTAMP) AS registered_at, probs, "
        f"{FIT_COLUMN} FROM incoming ORDER BY example_id",
        final,
        immutable=True,
    )
    if not layout.store.remote:
        final.chmod(0o444)  # immutable once written (object storage: never overwritten)
