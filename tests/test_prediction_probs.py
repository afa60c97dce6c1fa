"""Class probabilities in predictions files: prob_<label> columns or a JSON lines `probs`
object, checked row by row, stored as a `probs` map and queryable in SQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.predictions import (
    PredictionsError,
    list_model_versions,
    predictions_path,
    register_predictions,
)
from tests.test_predictions import (
    build_warehouse,
    simple_rows,
    split_examples,
    write_predictions_csv,
)
from warehouse.catalog import open_reader

HEADER = ["example_id", "predicted_label", "prob_neg", "prob_pos"]


@pytest.fixture
def examples(layout, small_config) -> list[tuple[str, str, str]]:
    version = build_warehouse(layout, small_config, *simple_rows())
    assert version == 1
    return [e for e in split_examples(layout, small_config, version) if e[1] in ("dev", "test")]


def confident_rows(examples) -> list[tuple]:
    """The gold label with probability 0.7 + (i % 3) / 10: varied, and always the argmax."""
    rows = []
    for i, (eid, _, label) in enumerate(examples):
        p = round(0.7 + (i % 3) / 10, 2)
        pos = p if label == "pos" else round(1 - p, 2)
        rows.append((eid, label, round(1 - pos, 2), pos))
    return rows


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def stored(layout, small_config, model: str) -> dict[str, list]:
    with open_reader(layout, small_config) as con:
        rows = con.execute(
            "SELECT example_id, score, probs['neg'], probs['pos'] FROM predictions "
            "WHERE model_version = ?",
            [model],
        ).fetchall()
    return {eid: values for eid, *values in rows}


def test_probability_columns_are_stored_as_a_map_that_sql_can_read(
    layout, small_config, examples, tmp_path
):
    rows = confident_rows(examples)
    source = write_predictions_csv(tmp_path / "p.csv", rows, HEADER)
    summary = register_predictions(layout, small_config, source, "calibrated", 1)
    assert summary.with_probs and summary.not_argmax == 0
    assert "with class probabilities" in summary.message
    found = stored(layout, small_config, "calibrated")
    for eid, label, neg, pos in rows:
        # No score column: the score is the probability of the predicted label.
        assert found[eid] == [pytest.approx(pos if label == "pos" else neg), neg, pos]


def test_a_jsonl_probs_object_registers_the_same_predictions_as_the_columns(
    layout, small_config, examples, tmp_path
):
    rows = confident_rows(examples)
    columns = write_predictions_csv(tmp_path / "p.csv", rows, HEADER)
    register_predictions(layout, small_config, columns, "same", 1)
    records = [
        {"example_id": eid, "predicted_label": label, "probs": {"pos": pos, "neg": neg}}
        for eid, label, neg, pos in rows
    ]
    again = register_predictions(
        layout, small_config, write_jsonl(tmp_path / "p.jsonl", records), "same", 1
    )
    assert not again.created and "already registered" in again.message
    records[0]["probs"] = {"pos": 0.5, "neg": 0.5}
    with pytest.raises(PredictionsError, match="use a new model version"):
        register_predictions(
            layout, small_config, write_jsonl(tmp_path / "q.jsonl", records), "same", 1
        )


def test_a_prediction_that_is_not_the_argmax_is_kept_and_counted(
    layout, small_config, examples, tmp_path
):
    rows = confident_rows(examples)
    eid, label, neg, pos = rows[0]
    rows[0] = (eid, "neg" if label == "pos" else "pos", neg, pos)  # a thresholding model
    summary = register_predictions(
        layout, small_config, write_predictions_csv(tmp_path / "p.csv", rows, HEADER), "thr", 1
    )
    assert summary.not_argmax == 1
    assert "1 predicted label(s) are not the most probable one" in summary.message
    with open_reader(layout, small_config) as con:
        kept = con.execute(
            "SELECT predicted_label FROM predictions WHERE example_id = ?", [eid]
        ).fetchone()
    assert kept == (rows[0][1],)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda rows: [(rows[0][0], rows[0][1], 0.5, 0.6), *rows[1:]],
            r"1 row\(s\) have probabilities that do not sum to 1 \(within 1e-06\), "
            r"e\.g\. \S+ \(sum 1\.1\); normalise each row",
        ),
        (
            lambda rows: [(rows[0][0], rows[0][1], "", 1.0), *rows[1:]],
            r"missing or not a number in \[0, 1\], e\.g\. \S+ -> neg=\(empty\), pos=1\.0",
        ),
        (
            lambda rows: [(rows[0][0], rows[0][1], -0.2, 1.2), *rows[1:]],
            r"missing or not a number in \[0, 1\], e\.g\. \S+ -> neg=-0\.2, pos=1\.2",
        ),
    ],
    ids=["sum above 1", "empty probability", "negative probability"],
)
def test_bad_probabilities_are_refused_naming_the_rows_and_nothing_is_written(
    layout, small_config, examples, tmp_path, edit, message
):
    source = write_predictions_csv(tmp_path / "p.csv", edit(confident_rows(examples)), HEADER)
    with pytest.raises(PredictionsError, match=message):
        register_predictions(layout, small_config, source, "bad", 1)
    assert not predictions_path(layout, "bad", 1).exists()
    assert list_model_versions(layout) == []


def test_a_probability_for_an_unknown_label_is_refused_in_either_form(
    layout, small_config, examples, tmp_path
):
    rows = [(*row, 0.0) for row in confident_rows(examples)]
    source = write_predictions_csv(tmp_path / "p.csv", rows, [*HEADER, "prob_maybe"])
    with pytest.raises(PredictionsError, match=r"prob_maybe name no label of the label set"):
        register_predictions(layout, small_config, source, "bad", 1)
    records = [
        {"example_id": eid, "predicted_label": label, "probs": {"neg": neg, "pos": pos, "x": 0}}
        for eid, label, neg, pos in confident_rows(examples)
    ]
    with pytest.raises(PredictionsError, match=r"prob_x name no label"):
        register_predictions(
            layout, small_config, write_jsonl(tmp_path / "p.jsonl", records), "bad", 1
        )
    assert list_model_versions(layout) == []


def test_probabilities_for_only_some_labels_are_refused(layout, small_config, examples, tmp_path):
    rows = [(eid, label, pos) for eid, label, _, pos in confident_rows(examples)]
    source = write_predictions_csv(
        tmp_path / "p.csv", rows, ["example_id", "predicted_label", "prob_pos"]
    )
    with pytest.raises(PredictionsError, match=r"lacks probability column\(s\) prob_neg"):
        register_predictions(layout, small_config, source, "bad", 1)
