"""The quality checks: for each, the DuckDB query that shapes the data and the expectations GE
judges it by. Checks over every example (required values, labels, unique ids, cross-source
duplicates) are measured in DuckDB and GE judges the counts (quality/measures.py says why);
small relations (the schema, one row per ingested file or per batch and label) GE sees whole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quality.expectations import MAX_FAILING_EXAMPLES, Judge, Tally, judge_query, rule_meta
from quality.measures import Measure, Rule, is_blank, judge_measure, not_in, quote
from quality.results import ERROR, WARN, Severity
from warehouse.batch_decisions import (
    ACCEPT_COMMAND,
    DECIDED_FILE_IDS_SQL,
    EXCLUDE_COMMAND,
    EXCLUDED_FILE_IDS_SQL,
    REJECT_RATE_SQL,
    ROWS_HELD_SQL,
    landing_name,
)
from warehouse.schema import example_columns
from warehouse.split_names import DISTRIBUTIONS

if TYPE_CHECKING:
    import duckdb

    from warehouse.config import BayeslineConfig

MIN_BATCH_ROWS_FOR_DRIFT = 30  # smaller batches swing by chance alone
MAX_LISTED_IDS = 10  # ids listed per failing key; the count tells the rest
REQUIRED_COLUMNS = ("example_id", "source", "distribution", "group_key", "label", "content_hash")
LOCATION_COLUMNS = ("example_id", "file_id", "line_number")  # how a person finds a row


@dataclass(frozen=True)
class CheckRun:
    """What every check needs: the warehouse connection, the config and the run's judge."""

    con: duckdb.DuckDBPyConnection
    config: BayeslineConfig
    judge: Judge
    batch_rows: int

    def judge_query(self, sql: str, suite: Any, tally: Tally, **kwargs: Any) -> Tally:
        return judge_query(
            self.judge, self.con, sql, suite, batch_rows=self.batch_rows, tally=tally, **kwargs
        )


@dataclass(frozen=True)
class Judgement:
    """A check's merged verdicts plus the thresholds and counts worth reporting."""

    tally: Tally
    observed: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # said in the description when the check fails


@dataclass(frozen=True)
class Check:
    name: str
    severity: Severity
    claim: str  # what must hold, as one sentence
    remedy: str
    judge: Callable[[CheckRun], Judgement]


def judge_schema(run: CheckRun) -> Judgement:
    expected = example_columns(run.config.dataset)
    expect = run.judge.expectations
    tally = Tally()
    columns = run.judge.suite(
        "examples_columns",
        [
            expect.ExpectTableColumnsToMatchSet(
                column_set=list(expected),
                exact_match=True,
                meta=rule_meta("examples has exactly the expected columns", "tables"),
            )
        ],
    )
    run.judge_query("SELECT * FROM examples LIMIT 0", columns, tally)
    types = run.judge.suite(
        "examples_column_types",
        [
            expect.ExpectColumnPairValuesToBeEqual(
                column_A="actual_type",
                column_B="expected_type",
                meta=rule_meta("column has its expected type", "columns"),
            )
        ],
    )
    sql = """
        WITH expected AS (
            SELECT unnest($names::VARCHAR[]) AS column_name,
                   unnest($types::VARCHAR[]) AS expected_type
        ), actual AS (
            SELECT column_name, column_type AS actual_type FROM (DESCRIBE examples)
        )
        SELECT column_name,
               coalesce(expected_type, '(not expected)') AS expected_type,
               coalesce(actual_type, '(missing)') AS actual_type
        FROM expected FULL OUTER JOIN actual USING (column_name)
        ORDER BY column_name
    """
    params = {"names": list(expected), "types": list(expected.values())}
    run.judge_query(sql, types, tally, shown_columns=["column_name"], params=params)
    return Judgement(tally, {"expected_columns": len(expected)})


def judge_required_values(run: CheckRun) -> Judgement:
    required = dict.fromkeys((*REQUIRED_COLUMNS, *run.config.dataset.payload_columns))
    rules = [
        rule
        for column in required
        for rule in (
            Rule(f"{column} is present", f"{quote(column)} IS NULL", column),
            Rule(f"{column} is not blank", is_blank(column), column),
        )
    ]
    rules.append(
        Rule(
            "distribution is training or target",
            not_in("distribution", DISTRIBUTIONS),
            "distribution",
        )
    )
    tally = judge_measure(run, _row_measure("examples_required_values", rules))
    return Judgement(tally, {"required_columns": len(required)})


def judge_labels(run: CheckRun) -> Judgement:
    labels = list(run.config.dataset.labels)
    rule = Rule(f"label is one of {', '.join(labels)}", not_in("label", labels), "label")
    tally = judge_measure(run, _row_measure("examples_labels", [rule]))
    return Judgement(tally, {"labels_allowed": len(labels)})


def _row_measure(suite: str, rules: list[Rule]) -> Measure:
    """Rules over single examples, counted per ingested file, failures listed in file order."""
    return Measure(
        suite,
        elements="SELECT * FROM examples",
        unit="rows",
        rules=tuple(rules),
        located_by=LOCATION_COLUMNS,
        order="file_id, line_number, example_id",
        per="file_id",
    )


def judge_unique_ids(run: CheckRun) -> Judgement:
    # DuckDB counts over the whole table, so duplicates in different landing files still meet
    # in one row. Locations are gathered only for the listed repeated ids.
    measure = Measure(
        "examples_unique_ids",
        elements="""
            SELECT example_id, count(*) AS occurrences
            FROM examples
            WHERE example_id IS NOT NULL  -- a missing id is examples_have_required_values' job
            GROUP BY example_id
        """,
        unit="ids",
        rules=(Rule("example id occurs exactly once", "occurrences <> 1", "occurrences"),),
        located_by=("example_id",),
        order="example_id",
        details=f"""
            SELECT f.occurrences, f.example_id,
                   list({{'file_id': e.file_id, 'line_number': e.line_number}}
                        ORDER BY e.file_id, e.line_number)[1:{MAX_LISTED_IDS}] AS locations
            FROM failing f JOIN examples e ON e.example_id = f.example_id
            GROUP BY f.occurrences, f.example_id
            ORDER BY f.example_id
        """,
    )
    return Judgement(judge_measure(run, measure))


def judge_cross_source_duplicates(run: CheckRun) -> Judgement:
    # min <> max is count(DISTINCT source) > 1 in about half the time; the exact count, the
    # sources and the ids are worked out only for the listed keys.
    measure = Measure(
        "examples_cross_source_duplicates",
        elements="""
            SELECT dedup_key, min(source) AS first_source, max(source) AS last_source,
                   count(*) AS examples
            FROM examples
            WHERE dedup_key IS NOT NULL
            GROUP BY dedup_key
        """,
        unit="dedup keys",
        rules=(
            Rule(
                "near-duplicate text comes from one source only",
                "first_source <> last_source",
                "dedup_key",
            ),
        ),
        located_by=("dedup_key",),
        order="dedup_key",
        details=f"""
            SELECT count(DISTINCT e.source) AS source_count, f.dedup_key,
                   list(DISTINCT e.source ORDER BY e.source) AS sources, f.examples,
                   list(e.example_id ORDER BY e.example_id)[1:{MAX_LISTED_IDS}] AS example_ids
            FROM failing f JOIN examples e ON e.dedup_key = f.dedup_key
            GROUP BY f.dedup_key, f.examples
            ORDER BY f.dedup_key
        """,
    )
    return Judgement(judge_measure(run, measure))


def judge_batch_row_counts(run: CheckRun) -> Judgement:
    quality = run.config.quality
    tally = _judge_ingested_files(run, quality.max_batch_reject_rate)
    blocking = _blocking_batches(tally)
    target_examples = _judge_target_capacity(run, tally, quality.min_examples_per_split)
    notes = [] if target_examples else ["the warehouse holds no target examples; ingest data first"]
    if blocking:
        # Failing examples stop at MAX_FAILING_EXAMPLES per rule; `batches` lists them all.
        listed_all = all(rule.unexpected <= MAX_FAILING_EXAMPLES for rule in tally.failed_rules)
        notes.append(blocking_batches_note(blocking, listed_all))
    ((decided,),) = run.con.sql(f"SELECT count(*) FROM ({DECIDED_FILE_IDS_SQL})").fetchall()
    observed = {
        "target_examples": target_examples,
        "max_batch_reject_rate": quality.max_batch_reject_rate,
        "min_examples_per_split": quality.min_examples_per_split,
        "blocking_batches": blocking,
        "decided_batches": int(decided),
    }
    return Judgement(tally, observed, "; ".join(notes))


def _blocking_batches(tally: Tally) -> list[str]:
    """The files the gate failed, as source/name, in ingestion order (as many as the failing
    examples hold: MAX_FAILING_EXAMPLES per rule)."""
    found = [
        landing_name(row["source"], row["file_path"])
        for row in tally.failing_examples(limit=10**6)
        if "file_path" in row
    ]
    return list(dict.fromkeys(found))


def blocking_batches_note(files: list[str], all_listed: bool = True) -> str:
    """Which batches block publishing and the two ways out, in one sentence."""
    counted = f"{len(files)}" if all_listed else f"more than {len(files)}"
    return (
        f"{counted} batch(es) block publishing until someone decides: {', '.join(files)}; "
        f"keep one out with `{EXCLUDE_COMMAND}` or let its good rows in with `{ACCEPT_COMMAND}` "
        "(`bayesline batches list` shows every batch)"
    )


def _judge_ingested_files(run: CheckRun, max_reject_rate: float) -> Tally:
    from great_expectations.expectations.row_conditions import Column

    loaded = Column("status") == "loaded"
    expect = run.judge.expectations
    suite = run.judge.suite(
        "ingested_files_row_counts",
        [
            expect.ExpectColumnValuesToBeInSet(
                column="status",
                value_set=["loaded"],
                meta=rule_meta("file was readable (status loaded)", "files"),
            ),
            expect.ExpectColumnValuesToBeBetween(
                column="rows_held",
                min_value=1,
                row_condition=loaded,
                meta=rule_meta("loaded file has rows", "files"),
            ),
            expect.ExpectColumnValuesToBeBetween(
                column="reject_rate",
                max_value=max_reject_rate,
                row_condition=loaded,
                meta=rule_meta(f"reject rate is at most {max_reject_rate:g}", "files"),
            ),
        ],
    )
    sql = f"""
        SELECT file_id, file_path, source, status, rows_read, rows_loaded, rows_rejected,
               {ROWS_HELD_SQL} AS rows_held, {REJECT_RATE_SQL} AS reject_rate, reason
        FROM ingested_files
        WHERE file_id NOT IN ({DECIDED_FILE_IDS_SQL})  -- a person decided: it blocks no more
        ORDER BY ingested_at, file_id
    """
    index = ["file_id", "file_path", "source", "status", "rows_read", "rows_loaded"]
    index += ["rows_rejected", "rows_held", "reject_rate", "reason"]
    return run.judge_query(sql, suite, Tally(), shown_columns=index)


#: Target examples the next split version can hold: excluded batches' rows do not count.
TARGET_EXAMPLES_SQL = f"""
    SELECT count(*) AS target_examples FROM examples
    WHERE distribution = 'target' AND file_id NOT IN ({EXCLUDED_FILE_IDS_SQL})
"""


def _judge_target_capacity(run: CheckRun, tally: Tally, min_examples: int) -> int:
    """Judge that dev and test can each get `min_examples`; return the target example count."""
    expect = run.judge.expectations
    suite = run.judge.suite(
        "target_split_capacity",
        [
            expect.ExpectColumnValuesToBeBetween(
                column="expected_examples",
                min_value=min_examples,
                meta=rule_meta(f"split gets at least {min_examples} target examples", "splits"),
            )
        ],
    )
    fractions = run.config.splits.target
    sql = f"""
        WITH target AS ({TARGET_EXAMPLES_SQL}), splits AS (
            SELECT unnest(['dev', 'test']) AS split,
                   unnest([$dev, $test]::DOUBLE[]) AS fraction
        )
        SELECT split, target_examples, fraction, target_examples * fraction AS expected_examples
        FROM splits CROSS JOIN target
        ORDER BY split
    """
    params = {"dev": fractions["dev"], "test": fractions["test"]}
    index = ["split", "target_examples", "fraction"]
    run.judge_query(sql, suite, tally, shown_columns=index, params=params)
    ((target_examples,),) = run.con.sql(TARGET_EXAMPLES_SQL).fetchall()
    return int(target_examples)


def judge_label_drift(run: CheckRun) -> Judgement:
    max_drift = run.config.quality.max_label_drift
    expect = run.judge.expectations
    suite = run.judge.suite(
        "label_balance_drift",
        [
            expect.ExpectColumnValuesToBeBetween(
                column="drift",
                max_value=max_drift,
                meta=rule_meta(
                    f"label share within {max_drift:g} of the distribution's other batches",
                    "batch labels",
                ),
            )
        ],
    )
    # One row per (batch, label). The other batches' share is the distribution's count minus
    # the batch's own; a batch alone in its distribution has nothing to compare (NULL drift).
    sql = """
        WITH counts AS (
            SELECT distribution, file_id, label, count(*) AS n
            FROM examples GROUP BY distribution, file_id, label
        ), batches AS (
            SELECT distribution, file_id, sum(n)::BIGINT AS batch_rows
            FROM counts GROUP BY distribution, file_id
        ), totals AS (
            SELECT distribution, sum(n)::BIGINT AS distribution_rows
            FROM counts GROUP BY distribution
        ), label_totals AS (
            SELECT distribution, label, sum(n)::BIGINT AS label_rows
            FROM counts GROUP BY distribution, label
        ), labels AS (
            SELECT unnest($labels::VARCHAR[]) AS label
        ), shares AS (
            SELECT b.file_id, b.distribution, l.label, b.batch_rows,
                   coalesce(c.n, 0) / b.batch_rows AS batch_share,
                   (coalesce(lt.label_rows, 0) - coalesce(c.n, 0))
                       / nullif(t.distribution_rows - b.batch_rows, 0) AS rest_share
            FROM batches b
            JOIN totals t USING (distribution)
            CROSS JOIN labels l
            LEFT JOIN counts c
                ON c.distribution = b.distribution AND c.file_id = b.file_id
                AND c.label = l.label
            LEFT JOIN label_totals lt ON lt.distribution = b.distribution AND lt.label = l.label
            WHERE b.batch_rows >= $min_rows
        )
        SELECT file_id, distribution, label, batch_rows,
               round(batch_share, 4) AS batch_proportion,
               round(rest_share, 4) AS other_batches_proportion,
               round(abs(batch_share - rest_share), 4) AS drift
        FROM shares
        ORDER BY distribution, file_id, label
    """
    params = {"labels": list(run.config.dataset.labels), "min_rows": MIN_BATCH_ROWS_FOR_DRIFT}
    index = ["file_id", "distribution", "label", "batch_rows", "batch_proportion"]
    index.append("other_batches_proportion")
    tally = run.judge_query(sql, suite, Tally(), shown_columns=index, params=params)
    observed = {"max_label_drift": max_drift, "min_batch_rows": MIN_BATCH_ROWS_FOR_DRIFT}
    return Judgement(tally, observed)


CHECKS: tuple[Check, ...] = (
    Check(
        "examples_match_schema",
        ERROR,
        "The examples table has exactly the expected columns and types.",
        "Rebuild the warehouse views with the current code and config; if the dataset columns "
        "changed on purpose, update bayesline.toml and re-ingest.",
        judge_schema,
    ),
    Check(
        "examples_have_required_values",
        ERROR,
        "Every example has its id, source, distribution, group, label, hashes and payload.",
        "Fix the listed rows at their source file and line (or drop them) and re-ingest; "
        "ingestion should reject such rows, so also report it as an ingestion bug.",
        judge_required_values,
    ),
    Check(
        "examples_labels_in_label_set",
        ERROR,
        "Every example's label is one of the configured labels.",
        "Correct the labels at the source file and line, or add the label to [dataset] labels "
        "in bayesline.toml if it is legitimate, then re-ingest.",
        judge_labels,
    ),
    Check(
        "examples_have_unique_ids",
        ERROR,
        "Every example id occurs exactly once.",
        "Remove the repeated rows from the landing files listed, or make the id column unique "
        "(without an id column, ids are content hashes: identical rows collide), then "
        "re-ingest.",
        judge_unique_ids,
    ),
    Check(
        "examples_have_no_cross_source_duplicates",
        WARN,
        "No near-duplicate text appears in more than one source.",
        "Check whether the sources overlap; duplicates across training and target leak "
        "between splits, so drop the copy from the training source if so.",
        judge_cross_source_duplicates,
    ),
    Check(
        "batches_have_sane_row_counts",
        ERROR,
        "Every ingested file was readable and loaded rows with few rejects, and the target "
        "distribution can fill dev and test.",
        "Read each listed file's reason and its rows in rejected_rows, then decide: "
        f"`{EXCLUDE_COMMAND}` keeps its rows out of the next versions, `{ACCEPT_COMMAND}` lets "
        "its good rows in; if dev/test are too small, land more target data or lower "
        "[quality] min_examples_per_split.",
        judge_batch_row_counts,
    ),
    Check(
        "label_balance_is_stable_across_batches",
        WARN,
        "Each batch's label mix is close to the rest of its distribution.",
        "Look at the listed batches: a shifted label mix often means a labelling change or a "
        "biased export upstream; confirm with the data owner before publishing.",
        judge_label_drift,
    ),
)
