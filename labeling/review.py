"""Gold labels the annotators confidently contradict, and the corrections people accept.

An example is proposed for review when enough annotators labelled it, their consensus differs
from the gold label, the consensus is confident (Dawid-Skene posterior, or vote share), and a
clear majority of the annotators voted for it. The last rule matters: Dawid-Skene can be sure
of a 2-1 vote between reliable annotators, but one dissenting voice is reason enough to leave
the gold label to a person rather than propose changing it.

Nothing here changes a label. An accepted proposal becomes a correction row; the warehouse
applies accepted corrections in the next split version, where the example keeps its split.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import duckdb

from deployment.errors import BayeslineError
from labeling.baselines import fit_consensus, load_annotations
from warehouse.config import BayeslineConfig

if TYPE_CHECKING:
    import pandas as pd

#: A label_review row's status; "proposed" until a person accepts it (a correction row).
ReviewStatus = Literal["proposed"]
PROPOSED: ReviewStatus = "proposed"


class NotProposedError(BayeslineError, ValueError):
    """An example to accept is not a proposed correction in label_review."""


@dataclass(frozen=True)
class LabelCorrection:
    """An accepted change of an example's gold label, to apply in the next split version."""

    example_id: str
    split_version: int  # the version whose gold label was reviewed
    old_label: str
    new_label: str
    accepted_at: datetime
    reason: str


class LabelReviewRow(TypedDict):
    """A row of lake/labeling/review (LABEL_REVIEW_COLUMNS): a gold label to look at."""

    split_version: int
    example_id: str
    split: str
    gold_label: str
    consensus_label: str
    confidence: float
    consensus_method: str
    n_annotators: int
    votes: str  # JSON: label -> count
    status: ReviewStatus


def find_probable_label_errors(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    split_version: int,
    min_annotators: int | None = None,
    min_confidence: float | None = None,
    *,
    min_agreement: float | None = None,
    method: str = "dawid_skene",
) -> list[LabelReviewRow]:
    """LABEL_REVIEW_COLUMNS rows, most confident first: gold labels the consensus refutes.

    Thresholds left None are `[labeling] review_min_annotators`, `_confidence`, `_agreement`.
    """
    knobs = config.labeling
    min_annotators = knobs.review_min_annotators if min_annotators is None else min_annotators
    min_confidence = knobs.review_min_confidence if min_confidence is None else min_confidence
    min_agreement = knobs.review_min_agreement if min_agreement is None else min_agreement
    annotations = load_annotations(con, split_version)
    scored = annotations.join(fit_consensus(annotations, method), on="example_id")
    scored["agrees"] = scored["label"] == scored["consensus_label"]
    examples = scored.groupby("example_id", sort=True).agg(
        split=("split", "first"),
        gold_label=("gold_label", "first"),
        consensus_label=("consensus_label", "first"),
        confidence=("confidence", "first"),
        n_annotators=("annotator", "size"),
        n_agreeing=("agrees", "sum"),
    )
    flagged = examples[
        (examples["n_annotators"] >= min_annotators)
        & (examples["consensus_label"] != examples["gold_label"])
        & (examples["confidence"] >= min_confidence)
        & (examples["n_agreeing"] >= min_agreement * examples["n_annotators"])
    ]
    votes = scored[scored["example_id"].isin(flagged.index)].groupby("example_id")["label"]
    rows: list[LabelReviewRow] = [
        {
            "split_version": split_version,
            "example_id": str(example_id),
            "split": str(example.split),
            "gold_label": str(example.gold_label),
            "consensus_label": str(example.consensus_label),
            "confidence": float(example.confidence),
            "consensus_method": method,
            "n_annotators": int(example.n_annotators),
            "votes": _votes_json(votes.get_group(example_id).value_counts(), config.dataset.labels),
            "status": PROPOSED,
        }
        for example_id, example in flagged.iterrows()
    ]
    return sorted(rows, key=lambda r: (-r["confidence"], r["example_id"]))


def _votes_json(counts: pd.Series, labels: Iterable[str]) -> str:
    """label -> count, in the label set's order (then any label outside it, sorted)."""
    order = [label for label in labels if label in counts.index]
    order += sorted(set(counts.index) - set(order))
    return json.dumps({label: int(counts[label]) for label in order})


def accept_corrections(
    rows: Iterable[Mapping[str, Any]],
    accepted_ids: Iterable[str],
    *,
    accepted_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """LABEL_CORRECTION_COLUMNS rows for the accepted proposals among `rows`.

    Every accepted id must be a proposed row: accepting anything else is refused, naming it.
    """
    proposed = {row["example_id"]: row for row in rows if row["status"] == PROPOSED}
    accepted = list(dict.fromkeys(accepted_ids))
    unknown = [example_id for example_id in accepted if example_id not in proposed]
    if unknown:
        raise NotProposedError(
            f"not proposed for review, so not accepted: {', '.join(map(str, unknown))}"
        )
    when = accepted_at or datetime.now(UTC).replace(tzinfo=None)
    return [asdict(_correction(proposed[example_id], when)) for example_id in accepted]


def _correction(row: Mapping[str, Any], when: datetime) -> LabelCorrection:
    reason = (
        f"{row['consensus_method']} consensus of {row['n_annotators']} annotators "
        f"(confidence {row['confidence']:.3f}, votes {row['votes']})"
    )
    return LabelCorrection(
        example_id=row["example_id"],
        split_version=int(row["split_version"]),
        old_label=row["gold_label"],
        new_label=row["consensus_label"],
        accepted_at=when,
        reason=reason,
    )
