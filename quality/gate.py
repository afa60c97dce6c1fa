"""The quality gate: run the checks over the warehouse views and decide whether to publish."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import duckdb

from deployment.settings import memory_limit
from quality.checks import CHECKS, Check, CheckRun, Judgement
from quality.expectations import DEFAULT_BATCH_ROWS, Judge, Tally
from quality.results import CheckOutcome, Severity
from warehouse.config import QualityConfig
from warehouse.hashing import quote_literal

if TYPE_CHECKING:
    from warehouse.config import BayeslineConfig

CHECK_NAMES: tuple[str, ...] = tuple(check.name for check in CHECKS)
#: "error" checks block publishing; "warn" checks only report.
CHECK_SEVERITIES: dict[str, Severity] = {check.name: check.severity for check in CHECKS}
#: DuckDB's memory cap while the gate runs ([quality] gate_memory_limit_mb). Grouping ten
#: million ids or dedup keys wants about 2 GiB; capped, DuckDB spills to the connection's
#: temp_directory instead, so with Great Expectations loaded the gate's peak stays under 2 GiB.
GATE_MEMORY_LIMIT_BYTES = QualityConfig.gate_memory_limit_mb * 2**20
_BYTE_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def run_quality_checks(
    con: duckdb.DuckDBPyConnection,
    config: BayeslineConfig,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    names: Iterable[str] | None = None,
) -> list[CheckOutcome]:
    """Judge the `examples`, `rejected_rows` and `ingested_files` views; one outcome per check."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}.")
    selected = _select(names)
    run = CheckRun(con, config, Judge(), batch_rows)  # one GE context for the whole run
    cap = gate_memory_limit_bytes(config.quality.gate_memory_limit_mb * 2**20)
    with memory_capped(con, cap):
        return [run_check(check, run) for check in CHECKS if check.name in selected]


def gate_passes(outcomes: Iterable[CheckOutcome]) -> bool:
    """True unless an error-severity check failed (warnings never block publishing)."""
    return not any(outcome.blocks_publishing for outcome in outcomes)


def gate_memory_limit_bytes(configured_bytes: int = GATE_MEMORY_LIMIT_BYTES) -> int:
    """[quality] gate_memory_limit_mb (1 GiB), or the warehouse's memory cap
    (BAYESLINE_MEMORY_LIMIT) when one is set: one knob gives every stage of a big warehouse
    more room."""
    configured = memory_limit()
    if not configured:
        return configured_bytes
    with duckdb.connect() as probe:  # DuckDB reads '6GB', '1536MB', '2GiB' as it does for SET
        probe.execute(f"SET memory_limit = {quote_literal(configured)}")
        row = probe.execute("SELECT current_setting('memory_limit')").fetchone()
    if row is None:
        return configured_bytes
    return _setting_bytes(row[0])


@contextmanager
def memory_capped(con: duckdb.DuckDBPyConnection, limit_bytes: int) -> Iterator[None]:
    """Lower the connection's DuckDB memory limit to `limit_bytes` for a while (never raise it)."""
    # The checks query through con.sql, which DuckDB refuses ("Resource In Use") while a
    # result is unfinished on the connection. execute() closes any the caller left, and
    # fetchall (not fetchone) leaves none of ours.
    ((previous,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
    if 0 <= _setting_bytes(previous) <= limit_bytes:
        yield
        return
    con.execute(f"SET memory_limit = '{limit_bytes}B'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{previous}'")  # as DuckDB printed it: 0.1 GiB steps


def _setting_bytes(setting: str) -> int:
    """'18.8 GiB' -> bytes; -1 when there is no limit or DuckDB's format is not understood."""
    number, _, unit = setting.partition(" ")
    try:
        return int(float(number) * _BYTE_UNITS[unit])
    except (KeyError, ValueError):
        return -1


def run_check(check: Check, run: CheckRun) -> CheckOutcome:
    try:
        judgement = check.judge(run)
    except duckdb.Error as exc:
        # A missing view or column must fail the gate with a readable reason, not crash it.
        return _unjudgeable(check, exc)
    return _outcome(check, judgement)


def _select(names: Iterable[str] | None) -> set[str]:
    if names is None:
        return set(CHECK_NAMES)
    chosen = {names} if isinstance(names, str) else set(names)
    unknown = sorted(chosen - set(CHECK_NAMES))
    if unknown:
        raise ValueError(
            f"Unknown quality check(s) {', '.join(unknown)}; known: {', '.join(CHECK_NAMES)}."
        )
    return chosen


def _outcome(check: Check, judgement: Judgement) -> CheckOutcome:
    tally = judgement.tally
    observed = {
        "rows_checked": tally.rows,
        "batches": tally.batches,
        "unexpected_count": tally.unexpected,
        "unexpected_percent": _percent(tally.unexpected, tally.checked),
        "unexpected_by_rule": {rule.rule: rule.unexpected for rule in tally.rules.values()},
        **judgement.observed,
    }
    return CheckOutcome(
        name=check.name,
        passed=tally.passed,
        severity=check.severity,
        description=_describe(check, judgement),
        observed=observed,
        failing_examples=tally.failing_examples(),
        remedy="" if tally.passed else check.remedy,
    )


def _percent(part: int, whole: int) -> float:
    """Share of all rule evaluations (a row judged by three rules counts three times)."""
    return round(100 * part / whole, 4) if whole else 0.0


def _describe(check: Check, judgement: Judgement) -> str:
    tally = judgement.tally
    if tally.passed:
        return f"{check.claim} Holds; checked {_counts(tally)}."
    problems = [
        f"{rule.unexpected:,} of {rule.checked:,} {rule.unit} break '{rule.rule}'"
        + (f" (error: {rule.errors[0]})" if rule.errors else "")
        for rule in tally.failed_rules
    ]
    if judgement.note:
        problems.append(judgement.note)
    return f"{check.claim} Failed: {'; '.join(problems)}."


def _counts(tally: Tally) -> str:
    """'120 rows, 3 files': the most elements any rule of each unit saw."""
    largest: dict[str, int] = {}
    for rule in tally.rules.values():
        largest[rule.unit] = max(largest.get(rule.unit, 0), rule.checked)
    return ", ".join(f"{n:,} {_singular(unit) if n == 1 else unit}" for unit, n in largest.items())


def _singular(unit: str) -> str:
    return unit[:-1] if unit.endswith("s") else unit


def _unjudgeable(check: Check, exc: duckdb.Error) -> CheckOutcome:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return CheckOutcome(
        name=check.name,
        passed=False,
        severity=check.severity,
        description=f"{check.claim} Could not be checked: {message}",
        observed={"rows_checked": 0, "query_failed": 1},
        failing_examples=[{"error": message}],
        remedy="Make sure ingestion created the examples, rejected_rows and ingested_files "
        "views with the layout in warehouse/schema.py, then rerun the checks.",
    )
