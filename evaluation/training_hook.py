"""Learners for the learning curves: the built-in baseline, or your own training command.

A learner takes a training table and a table of examples to predict, and returns one
predicted label per example to predict, in order. Both tables are Arrow tables with
`example_id`, the payload and slice columns; the training table also has `label`.

Your own model plugs in as a command in bayesline.toml (`[evaluation] training_command`), run
once per training-set size from the config file's folder, with three fields replaced by paths:

- `{train}`: a Parquet file of the training examples (example_id, label, payload and slice
  columns);
- `{predict}`: a Parquet file of the examples to predict (the same columns without label);
- `{output}`: where the command writes its predictions, as Parquet or CSV with `example_id`
  and `predicted_label`, one row per example to predict.

The command trains from scratch each time: a learning curve measures what a model trained on
n examples does, so nothing may carry over from a larger run.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from deployment.errors import BayeslineError
from evaluation.baseline import build_pipeline
from warehouse.config import BayeslineConfig
from warehouse.hashing import quote_literal

Learner = Callable[[pa.Table, pa.Table], list[str]]
STDERR_TAIL_LINES = 5  # of a failed command's stderr, shown in the error


class TrainingCommandError(BayeslineError):
    """The training command failed or wrote unusable predictions; the message says which."""


def learner_for(config: BayeslineConfig, scratch: Path) -> tuple[str, Learner]:
    """(a name for the curves' `learner` column, the learner) the config asks for."""
    command = config.evaluation.training_command
    if command is None:
        return "built-in baseline", baseline_learner(config)
    workdir = config.source_path.parent if config.source_path else Path.cwd()
    return command, command_learner(command, config.dataset.labels, workdir, scratch)


def baseline_learner(config: BayeslineConfig) -> Learner:
    """The built-in TF-IDF + logistic regression, fitted afresh on every call."""
    text_columns = config.dataset.text_columns

    def texts(table: pa.Table) -> list[str]:
        columns = [table.column(c).to_pylist() for c in text_columns]
        return [" ".join(v for v in values if v) for values in zip(*columns, strict=True)]

    def fit_predict(train: pa.Table, predict: pa.Table) -> list[str]:
        model = build_pipeline()
        model.fit(texts(train), train.column("label").to_pylist())
        return [str(label) for label in model.predict(texts(predict))]

    return fit_predict


def command_learner(command: str, labels: tuple[str, ...], workdir: Path, scratch: Path) -> Learner:
    """A learner that runs `command` (validated by warehouse.config) in `workdir`."""

    def fit_predict(train: pa.Table, predict: pa.Table) -> list[str]:
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch, prefix="training-command-") as tmp:
            paths = {
                "train": Path(tmp) / "train.parquet",
                "predict": Path(tmp) / "predict.parquet",
                "output": Path(tmp) / "predictions.parquet",
            }
            pq.write_table(train, paths["train"])
            unlabelled = predict.drop_columns([c for c in ("label",) if c in predict.column_names])
            pq.write_table(unlabelled, paths["predict"])
            fields = {name: str(path) for name, path in paths.items()}
            words = [word.format(**fields) for word in shlex.split(command)]
            _run(words, workdir, len(train))
            return _read_predictions(paths["output"], predict, labels, command)

    return fit_predict


def _run(words: list[str], workdir: Path, n_train: int) -> None:
    try:
        done = subprocess.run(words, cwd=workdir, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise TrainingCommandError(
            f"the training command could not start ({exc}): check [evaluation] "
            f"training_command in bayesline.toml (run from {workdir})"
        ) from exc
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-STDERR_TAIL_LINES:]) or "no stderr"
        raise TrainingCommandError(
            f"the training command exited with status {done.returncode} on {n_train:,} "
            f"training examples: {tail}. Run it by hand to see why."
        )


def _read_predictions(
    path: Path, predict: pa.Table, labels: tuple[str, ...], command: str
) -> list[str]:
    """The predicted labels in the order of `predict`, refused unless the command predicted
    every example once, with a label of the label set."""
    if not path.is_file():
        raise TrainingCommandError(
            f"the training command ({command}) wrote no predictions: it must write {{output}} "
            "(Parquet or CSV with example_id and predicted_label)"
        )
    reader = "read_parquet" if path.read_bytes()[:4] == b"PAR1" else "read_csv"
    with duckdb.connect() as con:
        con.register("wanted", predict.select(["example_id"]))
        try:
            rows = con.execute(
                f"SELECT w.example_id, CAST(p.predicted_label AS VARCHAR), count(p.example_id) "
                f"OVER (PARTITION BY w.example_id) "
                f"FROM wanted AS w LEFT JOIN "
                f"(SELECT CAST(example_id AS VARCHAR) AS example_id, predicted_label "
                f"FROM {reader}({quote_literal(str(path))})) AS p USING (example_id)"
            ).fetchall()
        except duckdb.Error as exc:
            raise TrainingCommandError(
                f"the training command's predictions cannot be read ({str(exc).splitlines()[0]})"
                ": write example_id and predicted_label columns, as Parquet or CSV"
            ) from exc
    return _check_predictions(rows, predict, set(labels))


def _check_predictions(
    rows: list[tuple[str, str | None, int]], predict: pa.Table, labels: set[str]
) -> list[str]:
    missing = [i for i, label, _ in rows if label is None]
    doubled = sorted({i for i, _, n in rows if n > 1})
    unknown = sorted({label for _, label, _ in rows if label is not None and label not in labels})
    for what, found in (
        ("no prediction for", missing),
        ("several predictions for", doubled),
        ("labels outside the label set:", unknown),
    ):
        if found:
            shown = ", ".join(map(str, found[:5])) + (" ..." if len(found) > 5 else "")
            raise TrainingCommandError(
                f"the training command's predictions have {what} {len(found)} example(s) "
                f"({shown}): write one predicted_label from {sorted(labels)} per example_id "
                "in {predict}"
            )
    by_id = {i: label for i, label, _ in rows if label is not None}  # none is, by now
    return [by_id[i] for i in predict.column("example_id").to_pylist()]
