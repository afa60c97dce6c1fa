"""Which low-performing slices are findings of their own, and which sit under a parent.

With `slice_pairs` on, a weak slice makes its pairs look weak too: when `device = scanner-b`
is flagged, every `device x region = scanner-b x <region>` is worse than overall dev because
its parent is. Like SliceFinder, which stops at a problematic slice rather than reporting its
children, a pair is its own finding only when it is significantly worse than each of its
flagged parents; otherwise it is shown under its parent.

- A pair is tested against each flagged parent with the same one-sided two-proportion z test
  the flagging uses, against the rest of that parent (the parent without the pair), so the
  pair does not dilute its own baseline. A pair that is all of its parent cannot be worse.
- Holm's adjustment runs across every (pair, parent) test, for the same reason as the
  flagging: each finding is a call to action.
- A pair with no flagged parent is a finding as before: the weakness is in the combination.
- A nested pair goes under the flagged parent it is not shown to be worse than (the one with
  the most errors removable when that holds for both). It keeps its numbers but has no rank:
  ranks count findings only, and the labeling queue follows the findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evaluation.rows_stored import StoredRow, StoredRowT
from evaluation.stats import holm_adjust, two_proportion_p_value
from warehouse.slice_bins import slice_label
from warehouse.slice_names import PAIR_SEPARATOR, SliceKey

NESTED_MARK = "\N{DOWNWARDS ARROW WITH TIP RIGHTWARDS}"  # a row shown under the row above


def parents_of(slice_column: str, slice_value: str) -> list[SliceKey]:
    """The single-column slices a pair lies in (none for a single-column slice)."""
    columns, values = slice_column.split(PAIR_SEPARATOR), slice_value.split(PAIR_SEPARATOR)
    if len(columns) < 2 or len(columns) != len(values):
        return []
    return list(zip(columns, values, strict=True))


def nest_under_parents(flagged: Sequence[StoredRow], alpha: float) -> list[dict[str, Any]]:
    """Copies of the flagged rows with `parent_slice_column`, `parent_slice_value` and
    `p_vs_parent` set (None for a finding without a flagged parent) and ranks given to
    findings only."""
    by_key: dict[SliceKey, StoredRow] = {(r["slice_column"], r["slice_value"]): r for r in flagged}
    tests = [
        (row, parent, _p_worse_than(row, by_key[parent]))
        for row in flagged
        for parent in parents_of(row["slice_column"], row["slice_value"])
        if parent in by_key
    ]
    adjusted = holm_adjust([p for _, _, p in tests])
    verdicts: dict[int, list[tuple[SliceKey, float]]] = {}
    for (row, parent, _), p_adj in zip(tests, adjusted, strict=True):
        verdicts.setdefault(id(row), []).append((parent, p_adj))
    rows = [_with_parent(row, verdicts.get(id(row), []), by_key, alpha) for row in flagged]
    return _ranked(rows)


def is_finding(row: StoredRow) -> bool:
    """A row of its own (not nested under a flagged parent)."""
    return row.get("parent_slice_column") is None


def reading_label(row: StoredRow) -> str:
    """'device = scanner-b', 'age in [45, 65)', or '↳ device x region = scanner-b x north' for a
    nested pair."""
    label = slice_label(row["slice_column"], row["slice_value"])
    return label if is_finding(row) else f"{NESTED_MARK} {label}"


def in_reading_order(rows: Sequence[StoredRowT]) -> list[StoredRowT]:
    """Findings by rank, each followed by the pairs nested under it (most removable first)."""
    findings = sorted((r for r in rows if is_finding(r)), key=_rank_order)
    children: dict[SliceKey, list[StoredRowT]] = {}
    for row in rows:
        if not is_finding(row):
            parent = (row["parent_slice_column"], row["parent_slice_value"])
            children.setdefault(parent, []).append(row)
    ordered: list[StoredRowT] = []
    for finding in findings:
        ordered.append(finding)
        nested = children.pop((finding["slice_column"], finding["slice_value"]), [])
        ordered += sorted(nested, key=lambda r: -(r.get("errors_removable") or 0.0))
    # Children whose parent row is absent (never, when written together) still show, last.
    ordered += [row for rows_ in children.values() for row in rows_]
    return ordered


def _p_worse_than(pair: StoredRow, parent: StoredRow) -> float:
    """One-sided p-value that the pair's error is above the rest of its parent's."""
    rest_n, rest_errors = parent["n"] - pair["n"], parent["errors"] - pair["errors"]
    if rest_n <= 0:
        return 1.0  # the pair is all of its parent: it cannot be worse than itself
    return two_proportion_p_value(rest_errors, rest_n, pair["errors"], pair["n"])


def _with_parent(
    row: StoredRow,
    verdicts: list[tuple[SliceKey, float]],
    by_key: Mapping[SliceKey, StoredRow],
    alpha: float,
) -> dict[str, Any]:
    not_worse = [parent for parent, p_adj in verdicts if p_adj >= alpha]
    parent = max(not_worse, key=lambda key: (by_key[key]["errors_removable"], key), default=None)
    return {
        **row,
        "parent_slice_column": parent[0] if parent else None,
        "parent_slice_value": parent[1] if parent else None,
        # A pair must be worse than every flagged parent: its weakest test decides.
        "p_vs_parent": max((p_adj for _, p_adj in verdicts), default=None),
    }


def _ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    findings = sorted(
        (r for r in rows if is_finding(r)),
        key=lambda r: (-r["errors_removable"], r["p_value"], r["slice_column"], r["slice_value"]),
    )
    ranks = {id(r): rank for rank, r in enumerate(findings, start=1)}
    return [r | {"rank": ranks.get(id(r))} for r in rows]


def _rank_order(row: StoredRow) -> tuple[bool, int, str, str]:
    return (row.get("rank") is None, row.get("rank") or 0, row["slice_column"], row["slice_value"])
