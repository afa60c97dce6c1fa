"""Checks over every example: DuckDB measures each rule, Great Expectations judges the counts.

GE's pandas engine costs about 0.1 s per expectation per million rows (a regex several times
that), plus converting long text columns from Arrow, so handing it every row for every rule
cannot keep up with the warehouse. GE's own SQL engine avoids this by computing each rule's
unexpected count as an aggregate in the database and fetching a few unexpected rows only for
the rules that failed. Over duckdb-engine that engine returns empty results
(great_expectations#11579), so this module does the same push-down by hand:

1. one DuckDB scan counts, for every rule of a check, the elements that break it into a summary
   of a few rows (one per ingested file for row rules; one in all for per-key rules);
2. GE judges each rule's count column on the summary (no element may break it), and the tally
   counts elements (examples, ids), never summary rows;
3. for a rule that failed, one query lists its first failing elements with their locations.

A rule's violation is a single SQL condition used both to count and to list, so the two cannot
disagree. Only the summary and at most MAX_FAILING_EXAMPLES elements per rule reach Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quality.expectations import MAX_FAILING_EXAMPLES, Tally, rule_meta

if TYPE_CHECKING:
    from quality.checks import CheckRun

ELEMENTS = "elements"  # summary column: how many elements the summary row stands for
# What GE's `^\s*$` on Python strings calls blank: every character is whitespace by
# str.isspace(). RE2's `\s` is ASCII only and lacks \v, so the rest is spelled out: the
# separators \x1c-\x1f and NEL, and \p{Z} (no-break spaces, ideographic space, line/paragraph
# separators). A test compares it with str.isspace() over every code point.
BLANK_PATTERN = r"^[\s\v\x{1c}-\x{1f}\x{85}\p{Z}]*$"


@dataclass(frozen=True)
class Rule:
    """One rule, defined once: its words (GE meta, failing examples) and its SQL violation."""

    rule: str
    violation: str  # SQL true for an element that breaks the rule; NULL never counts
    shown: str  # the column a person sees of a failing element, beside its location


@dataclass(frozen=True)
class Measure:
    """The elements a check judges and the rules they must follow.

    `elements` is SQL with one row per element. `located_by` are the columns that find a failing
    element, `order` how failing elements are listed. `per` splits the summary by a column (the
    ingested file) so it stays a few rows; `details` turns the `failing` elements into what a
    person sees when that needs more than their own columns (per-key rules list locations).
    """

    suite: str
    elements: str
    unit: str
    rules: tuple[Rule, ...]
    located_by: tuple[str, ...]
    order: str
    per: str | None = None
    details: str | None = None


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def is_blank(column: str) -> str:
    """SQL true when a non-null value is only whitespace (GE's NotMatchRegex skips nulls)."""
    return f"regexp_matches({quote(column)}::VARCHAR, {literal(BLANK_PATTERN)})"


def not_in(column: str, values: tuple[str, ...] | list[str]) -> str:
    """SQL true when a non-null value is outside `values` (GE's ToBeInSet skips nulls)."""
    return f"{quote(column)} NOT IN ({', '.join(literal(value) for value in values)})"


def judge_measure(run: CheckRun, measure: Measure) -> Tally:
    """Count every rule's violations in one scan, judge the counts, list the failures."""
    expect = run.judge.expectations
    suite = run.judge.suite(
        measure.suite,
        [
            expect.ExpectColumnValuesToBeBetween(
                column=_count_column(i), max_value=0, meta=rule_meta(rule.rule, measure.unit)
            )
            for i, rule in enumerate(measure.rules)
        ],
    )
    tally = run.judge_query(summary_sql(measure), suite, Tally(), elements_column=ELEMENTS)
    for rule in measure.rules:
        if not tally.rules[rule.rule].passed:
            tally.add_examples(rule.rule, failing_elements(run, measure, rule))
    return tally


def summary_sql(measure: Measure) -> str:
    """One row per `per` value (or one in all): its element count and each rule's violations."""
    counts = ", ".join(
        f"count_if({rule.violation}) AS {_count_column(i)}" for i, rule in enumerate(measure.rules)
    )
    per = grouped = ""
    if measure.per:
        per = f"{quote(measure.per)}, "
        grouped = f" GROUP BY {quote(measure.per)} ORDER BY {quote(measure.per)}"
    return (
        f"WITH elements AS ({measure.elements}) "
        f"SELECT {per}count(*) AS {ELEMENTS}, {counts} FROM elements{grouped}"
    )


def failing_sql(measure: Measure, rule: Rule, limit: int = MAX_FAILING_EXAMPLES) -> str:
    """The first `limit` elements that break `rule`, as a person should see them."""
    columns = ", ".join(quote(c) for c in dict.fromkeys((rule.shown, *measure.located_by)))
    details = measure.details or f"SELECT {columns} FROM failing ORDER BY {measure.order}"
    return (
        f"WITH elements AS ({measure.elements}), failing AS (SELECT * FROM elements "
        f"WHERE {rule.violation} ORDER BY {measure.order} LIMIT {int(limit)}) {details}"
    )


def failing_elements(run: CheckRun, measure: Measure, rule: Rule) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        run.con.sql(failing_sql(measure, rule)).to_arrow_table().to_pylist()
    )
    return rows


def _count_column(index: int) -> str:
    return f"violations_{index}"
