"""Human-level error per slice, from several blind annotations of each dev/test example.

Human-level error, the proxy for Bayes error, is the best a team of people achieves: the error
of their consensus, as in an expert panel. The typical (median) annotator's error sits beside
it, with Krippendorff's alpha for how much the annotators agree beyond chance.

- Only an annotator's latest annotation of an example counts (Label Studio keeps edits and
  re-imported tasks as further annotations), and only examples with at least two annotators:
  one person's label is a single opinion, not a consensus.
- The consensus comes from one crowd-kit fit over every such example of the split version, then
  is scored per slice: Dawid-Skene learns each annotator's confusion matrix from the whole
  version, which a small slice alone could not estimate.
- Ties (equal vote shares, or equal posteriors) go to the label that sorts first, so the same
  annotations give the same consensus whatever order they arrive in.
"""

from __future__ import annotations

import json
import statistics
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, TypedDict, get_args

import duckdb
import numpy as np

from evaluation.stats import wilson_interval
from warehouse.config import BayeslineConfig
from warehouse.slice_bins import slice_columns_of_version
from warehouse.slice_names import OVERALL, PAIR_SEPARATOR, pair_name

if TYPE_CHECKING:
    import pandas as pd
from warehouse.hashing import quote_literal

#: How the annotators' labels of an example become one consensus label.
ConsensusMethod = Literal["dawid_skene", "majority_vote"]
METHODS: tuple[ConsensusMethod, ...] = get_args(ConsensusMethod)
MIN_ANNOTATIONS_PER_EXAMPLE = 2
MIN_ANNOTATIONS_PER_ANNOTATOR = 10  # fewer: an annotator's error rate is mostly noise
DAWID_SKENE_ITERATIONS = 100


class AnnotatorError(TypedDict):
    """One annotator's error against the gold label, with its 95% Wilson interval."""

    n: int
    error: float
    ci: list[float]


class SliceFigures(TypedDict):
    n_examples: int
    n_annotations: int
    n_annotators: int
    consensus_method: str
    consensus_error: float
    consensus_ci_low: float
    consensus_ci_high: float
    typical_annotator_error: float | None
    best_annotator_error: float | None
    krippendorff_alpha: float | None
    annotator_errors: str  # JSON: annotator -> AnnotatorError


class HumanBaselineRow(SliceFigures):
    """A row of lake/labeling/baselines (HUMAN_BASELINE_COLUMNS)."""

    split_version: int
    slice_column: str
    slice_value: str
    simulated: bool


def load_annotations(
    con: duckdb.DuckDBPyConnection, split_version: int, config: BayeslineConfig | None = None
) -> pd.DataFrame:
    """One row per (example, annotator, slice) for examples with two or more annotators.

    Columns: example_id, annotator, label, simulated, split, gold_label, slice_column,
    slice_value. Without `config`, only the overall slice.
    """
    return con.execute(
        f"""
        WITH latest AS (
            SELECT example_id, annotator, label, coalesce(simulated, false) AS simulated
            FROM human_annotations
            WHERE label IS NOT NULL
            QUALIFY row_number() OVER (
                PARTITION BY example_id, annotator
                ORDER BY updated_at DESC NULLS LAST, created_at DESC NULLS LAST,
                         annotation_id DESC) = 1
        ),
        joined AS (
            SELECT a.*, s.split, s.label AS gold_label,
                   [{_slice_structs(con, config, split_version)}] AS slices
            FROM latest AS a
            JOIN (SELECT * FROM splits WHERE version = ?) AS s USING (example_id)
            QUALIFY count(*) OVER (PARTITION BY example_id) >= {MIN_ANNOTATIONS_PER_EXAMPLE}
        )
        SELECT example_id, annotator, label, simulated, split, gold_label,
               sl.c AS slice_column, sl.v AS slice_value
        FROM (SELECT *, unnest(slices) AS sl FROM joined)
        ORDER BY slice_column, slice_value, example_id, annotator
        """,
        [split_version],
    ).df()


def _slice_structs(
    con: duckdb.DuckDBPyConnection, config: BayeslineConfig | None, split_version: int
) -> str:
    """SQL struct items {c: slice column, v: slice value}, one per slice an example is in:
    the version's slices, binned as slice_metrics bins them."""
    slice_columns = slice_columns_of_version(con, config, split_version) if config else []
    value = {c.name: c.value_sql("s") for c in slice_columns}
    items = [f"{{'c': {quote_literal(OVERALL[0])}, 'v': {quote_literal(OVERALL[1])}}}"]
    columns = config.dataset.slice_columns if config else ()
    items += [f"{{'c': {quote_literal(c)}, 'v': {value[c]}}}" for c in columns]
    if config and config.evaluation.slice_pairs:  # so every slice the diagnosis has gets a level
        sep = quote_literal(PAIR_SEPARATOR)
        for i, a in enumerate(columns):
            for b in columns[i + 1 :]:
                name = quote_literal(pair_name(a, b))
                items.append(f"{{'c': {name}, 'v': {value[a]} || {sep} || {value[b]}}}")
    return ", ".join(items)


def fit_consensus(annotations: pd.DataFrame, method: str = "dawid_skene") -> pd.DataFrame:
    """consensus_label and confidence per example_id (the index), from one crowd-kit fit."""
    import pandas as pd  # lazily: the Dagster code location imports this module

    if method not in METHODS:
        raise ValueError(f"consensus method must be one of {', '.join(METHODS)}, not {method!r}")
    if annotations.empty:
        return pd.DataFrame(
            {"consensus_label": pd.Series(dtype=str), "confidence": pd.Series(dtype=float)}
        )
    data = (
        annotations[["example_id", "annotator", "label"]]
        .drop_duplicates()
        .rename(columns={"example_id": "task", "annotator": "worker"})
        # crowd-kit's groupbys keep row order, so a fixed order keeps the fit reproducible.
        .sort_values(["task", "worker"], ignore_index=True)
    )
    # Imported here: crowd-kit pulls in nltk and takes over a second; the Dagster code location
    # must load fast.
    from crowdkit.aggregation import DawidSkene, MajorityVote

    aggregator = (
        DawidSkene(n_iter=DAWID_SKENE_ITERATIONS) if method == "dawid_skene" else MajorityVote()
    )
    with warnings.catch_warnings():
        # crowd-kit 1.4 passes pandas `inplace=`/`copy=` keywords that pandas 3.1 deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        probas = aggregator.fit_predict_proba(data)
    # crowd-kit orders labels by first appearance and idxmax keeps the first maximum; sorting
    # the labels first makes ties go to the label that sorts first, whatever the input order.
    probas = probas.reindex(columns=sorted(probas.columns))
    values = probas.to_numpy(dtype=float)
    best = values.argmax(axis=1)
    return pd.DataFrame(
        {
            "consensus_label": probas.columns.to_numpy()[best],
            "confidence": values[np.arange(len(values)), best],
        },
        index=pd.Index(probas.index, name="example_id"),
    )


def consensus_labels(
    con: duckdb.DuckDBPyConnection, split_version: int, method: str = "dawid_skene"
) -> dict[str, tuple[str, float]]:
    """example_id -> (consensus label, confidence): Dawid-Skene posterior, or vote share."""
    consensus = fit_consensus(load_annotations(con, split_version), method)
    return {
        str(example_id): (str(label), float(confidence))
        for example_id, label, confidence in consensus.itertuples()
    }


def compute_human_baselines(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    split_version: int,
    method: str = "dawid_skene",
) -> list[HumanBaselineRow]:
    """One HUMAN_BASELINE_COLUMNS row per slice (overall first) of one split version."""
    annotations = load_annotations(con, split_version, config)
    overall = annotations[annotations["slice_column"] == OVERALL[0]]
    consensus = fit_consensus(overall, method)
    if consensus.empty:
        return []
    scored = annotations.join(consensus, on="example_id")
    domain = sorted(overall["label"].unique())
    # Dawid-Skene learns from every annotation, so any simulated one shapes every slice.
    fit_simulated = method == "dawid_skene" and bool(overall["simulated"].any())
    rows: list[HumanBaselineRow] = []
    for (column, value), frame in scored.groupby(["slice_column", "slice_value"], sort=True):
        rows.append(
            {
                "split_version": split_version,
                "slice_column": str(column),
                "slice_value": str(value),
                **_slice_figures(frame, domain, method),
                "simulated": fit_simulated or bool(frame["simulated"].any()),
            }
        )
    return sorted(rows, key=lambda r: (r["slice_column"] != OVERALL[0], r["slice_column"]))


def _slice_figures(frame: pd.DataFrame, domain: list[str], method: str) -> SliceFigures:
    examples = frame.drop_duplicates("example_id")
    n = len(examples)
    errors = int((examples["consensus_label"] != examples["gold_label"]).sum())
    low, high = wilson_interval(errors, n)
    annotators = annotator_errors(frame)
    qualified = [a["error"] for a in annotators.values() if a["n"] >= MIN_ANNOTATIONS_PER_ANNOTATOR]
    return {
        "n_examples": n,
        "n_annotations": len(frame),
        "n_annotators": len(annotators),
        "consensus_method": method,
        "consensus_error": errors / n,
        "consensus_ci_low": low,
        "consensus_ci_high": high,
        "typical_annotator_error": statistics.median(qualified) if qualified else None,
        "best_annotator_error": min(qualified) if qualified else None,
        "krippendorff_alpha": krippendorff_alpha(frame, domain),
        "annotator_errors": json.dumps(annotators),
    }


def annotator_errors(frame: pd.DataFrame) -> dict[str, AnnotatorError]:
    """annotator -> {"n", "error", "ci": [low, high]} against the gold label, by name."""
    wrong = (frame["label"] != frame["gold_label"]).groupby(frame["annotator"]).agg(["size", "sum"])
    result: dict[str, AnnotatorError] = {}
    for annotator, n, errors in wrong.sort_index().itertuples():
        result[str(annotator)] = {
            "n": int(n),
            "error": int(errors) / int(n),
            "ci": list(wilson_interval(int(errors), int(n))),
        }
    return result


def krippendorff_alpha(frame: pd.DataFrame, domain: Iterable[str]) -> float | None:
    """Nominal alpha of the annotations in `frame`; None when it is undefined.

    The examples x labels count matrix is what `krippendorff` builds from the annotators x
    examples reliability matrix, without its size (annotators x examples, mostly empty).
    """
    import krippendorff
    import pandas as pd

    domain = list(domain)
    counts = pd.crosstab(frame["example_id"], frame["label"]).reindex(columns=domain, fill_value=0)
    if int((counts.sum(axis=0) > 0).sum()) < 2:
        return None  # everyone gave one label: no disagreement was possible, alpha is 0 / 0
    try:
        alpha = krippendorff.alpha(
            value_counts=counts.to_numpy(),
            value_domain=domain,
            level_of_measurement="nominal",
        )
    except ValueError:  # no example with two annotators, or a single-label domain
        return None
    return float(alpha) if np.isfinite(alpha) else None
