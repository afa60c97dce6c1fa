"""Great Expectations plumbing: DuckDB shapes a relation, GE judges it batch by batch.

GE's SQL path over duckdb-engine returns empty results (great_expectations#11579), so every
check streams a DuckDB relation as Arrow record batches, hands each batch to GE as a pandas
frame, and merges the per-batch verdicts. Memory stays bounded by the batch size.

The relation is either the elements themselves (small relations: the schema, one row per
ingested file) or a summary of them, where each row stands for many elements and each judged
column holds how many of them broke a rule (see quality/measures.py for why). A summary's
verdicts are tallied in elements, so the reported numbers mean the same either way.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

DEFAULT_BATCH_ROWS = 250_000
MAX_FAILING_EXAMPLES = 20
MAX_TEXT_CHARS = 200  # failing examples go into logs and metadata: keep payload text short


def load_gx() -> ModuleType:
    """Import great_expectations on first use, with its telemetry switched off."""
    # Imported lazily: it takes seconds, and the Dagster code location must load fast.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def rule_meta(rule: str, unit: str) -> dict[str, str]:
    """Meta for an expectation: the rule in plain words and what one checked element is."""
    return {"rule": rule, "unit": unit}


class Judge:
    """One ephemeral GE context and dataframe batch definition, reused for every batch of a run."""

    def __init__(self) -> None:
        self.gx = load_gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = self.gx.get_context(mode="ephemeral")
        # The "Calculating Metrics" bars would flood Dagster logs, one per batch.
        context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        source = context.data_sources.add_pandas(name="bayesline_quality")
        asset = source.add_dataframe_asset(name="relation_batch")
        self._batches = asset.add_batch_definition_whole_dataframe(name="whole_frame")

    @property
    def expectations(self) -> ModuleType:
        expectations: ModuleType = self.gx.expectations
        return expectations

    def suite(self, name: str, expectations: Iterable[Any]) -> Any:
        return self.gx.ExpectationSuite(name=name, expectations=list(expectations))

    def validate(self, frame: pd.DataFrame, suite: Any) -> list[Any]:
        """Validate one frame against a suite; returns one result per expectation.

        Failing rows come back as row labels of `frame` (the cheap default-index path: asking
        GE for `unexpected_index_column_names` walks every failing cell before truncating).
        """
        result_format = {
            "result_format": "SUMMARY",
            "partial_unexpected_count": MAX_FAILING_EXAMPLES,
        }
        batch = self._batches.get_batch(batch_parameters={"dataframe": frame})
        return list(batch.validate(suite, result_format=result_format).results)


@dataclass
class RuleTally:
    """One expectation's verdict merged over every batch."""

    rule: str
    unit: str
    passed: bool = True
    checked: int = 0
    unexpected: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Tally:
    """A check's verdicts merged across batches (and across the relations it judged)."""

    rows: int = 0
    batches: int = 0
    rules: dict[str, RuleTally] = field(default_factory=dict)
    _examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(rule.passed for rule in self.rules.values())

    @property
    def unexpected(self) -> int:
        return sum(rule.unexpected for rule in self.rules.values())

    @property
    def checked(self) -> int:
        return sum(rule.checked for rule in self.rules.values())

    @property
    def failed_rules(self) -> list[RuleTally]:
        return [rule for rule in self.rules.values() if not rule.passed]

    def failing_examples(self, limit: int = MAX_FAILING_EXAMPLES) -> list[dict[str, Any]]:
        """Up to `limit` examples, taken in turn from each failed rule so every rule shows."""
        queues = [list(examples) for examples in self._examples.values() if examples]
        chosen: list[dict[str, Any]] = []
        while queues and len(chosen) < limit:
            for queue in queues:
                if queue and len(chosen) < limit:
                    chosen.append(queue.pop(0))
            queues = [queue for queue in queues if queue]
        return chosen

    def add_batch(
        self,
        batch: pa.RecordBatch,
        results: Iterable[Any],
        shown_columns: Sequence[str] = (),
        elements_column: str | None = None,
    ) -> None:
        """Merge one batch's results, reading failing rows (judged + shown columns) from `batch`.

        With `elements_column`, `batch` is a summary (see `judge_query`): counts come from its
        columns, and failing elements are listed by the caller with `add_examples`.
        """
        self.rows += column_total(batch, elements_column) if elements_column else batch.num_rows
        self.batches += 1
        for result in results:
            self._add_result(result, batch, shown_columns, elements_column)

    def add_examples(self, rule: str, found: Iterable[dict[str, Any]]) -> None:
        """Keep failing elements of `rule` found outside GE (up to the cap), tagged with it."""
        self._keep(rule, [{"rule": rule, **row} for row in found])

    def _add_result(
        self,
        result: Any,
        batch: pa.RecordBatch,
        shown_columns: Sequence[str],
        elements_column: str | None,
    ) -> None:
        meta = result.expectation_config.meta or {}
        name = meta.get("rule") or result.expectation_config.type
        rule = self.rules.setdefault(name, RuleTally(name, meta.get("unit", "rows")))
        body = result.result or {}
        rule.passed = rule.passed and bool(result.success)
        _count(rule, result, batch, elements_column)
        found = [] if elements_column else self._failing_rows(name, result, batch, shown_columns)
        if not result.success and not found and "observed_value" in body:
            found = [{"rule": name, "observed": body.get("details") or body["observed_value"]}]
        error = _exception_message(result.exception_info)
        if error:
            rule.passed = False
            rule.errors.append(error)
            found.append({"rule": name, "error": error})
        self._keep(name, found)

    def _room(self, rule: str) -> int:
        return MAX_FAILING_EXAMPLES - len(self._examples.get(rule, []))

    def _failing_rows(
        self, rule: str, result: Any, batch: pa.RecordBatch, shown_columns: Sequence[str]
    ) -> list[dict[str, Any]]:
        # GE's frame has a RangeIndex, so its row labels are positions in the record batch.
        positions = ((result.result or {}).get("partial_unexpected_index_list") or [])[
            : self._room(rule)
        ]
        if not positions:
            return []
        kwargs = result.expectation_config.kwargs
        judged = [kwargs[key] for key in ("column", "column_A", "column_B") if key in kwargs]
        names = set(batch.schema.names)
        columns = [c for c in dict.fromkeys((*judged, *shown_columns)) if c in names]
        rows = batch.select(columns).take([int(p) for p in positions]).to_pylist()
        return [{"rule": rule, **row} for row in rows]

    def _keep(self, rule: str, found: list[dict[str, Any]]) -> None:
        kept = self._examples.setdefault(rule, [])
        kept.extend(jsonable(example) for example in found[: max(self._room(rule), 0)])


def _count(
    rule: RuleTally, result: Any, batch: pa.RecordBatch, elements_column: str | None
) -> None:
    body = result.result or {}
    if "unexpected_count" not in body:
        # Table-level expectation: the batch itself is the one element checked.
        rule.checked += 1
        rule.unexpected += 0 if result.success else 1
    elif elements_column:
        # A summary row stands for many elements; its judged column counts those that failed.
        rule.checked += column_total(batch, elements_column)
        rule.unexpected += column_total(batch, result.expectation_config.kwargs["column"])
    else:
        rule.checked += int(body.get("element_count") or 0)
        rule.unexpected += int(body.get("unexpected_count") or 0)


def column_total(batch: pa.RecordBatch, column: str) -> int:
    """The sum of an integer column of `batch` (0 when empty)."""
    import pyarrow.compute as pc

    return int(pc.sum(batch.column(column)).as_py() or 0)


def _exception_message(info: Any) -> str:
    """GE reports a raised exception either flat or keyed by metric; return its message."""
    if not isinstance(info, dict):
        return ""
    if "raised_exception" in info:
        return str(info.get("exception_message") or "") if info["raised_exception"] else ""
    messages = (_exception_message(value) for value in info.values())
    return "; ".join(message for message in messages if message)


def stream_batches(
    con: duckdb.DuckDBPyConnection, sql: str, batch_rows: int, params: Any = None
) -> Iterator[pa.RecordBatch]:
    """The query's rows as Arrow record batches of at most `batch_rows` rows (one empty if none)."""
    reader = con.sql(sql, params=params).to_arrow_reader(batch_rows)
    yielded = False
    for record_batch in reader:
        if record_batch.num_rows:
            yielded = True
            yield record_batch
    if not yielded:
        # GE still judges an empty relation, so table-level expectations report on it.
        yield _empty_batch(reader.schema)


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    return pa.RecordBatch.from_pylist([], schema=schema)


def flat_columns(schema: pa.Schema) -> list[str]:
    """Columns GE may see: lists and structs make it pickle the whole frame to fingerprint it."""
    import pyarrow as pa

    return [f.name for f in schema if not pa.types.is_nested(f.type)]


def judge_query(
    judge: Judge,
    con: duckdb.DuckDBPyConnection,
    sql: str,
    suite: Any,
    *,
    batch_rows: int,
    shown_columns: Sequence[str] = (),
    params: Any = None,
    tally: Tally | None = None,
    elements_column: str | None = None,
) -> Tally:
    """Stream a query through GE batch by batch and merge the verdicts into `tally`.

    `shown_columns` are what a person sees of each failing row, besides the judged column.
    `elements_column` makes the query a summary: each row stands for that many elements, and
    each judged column counts how many of them broke its rule.
    """
    tally = tally if tally is not None else Tally()
    for record_batch in stream_batches(con, sql, batch_rows, params):
        # Nested columns stay in Arrow: converting them builds a Python object per cell.
        frame = record_batch.select(flat_columns(record_batch.schema)).to_pandas()
        results = judge.validate(frame, suite)
        tally.add_batch(record_batch, results, shown_columns, elements_column)
    return tally


def jsonable(value: Any) -> Any:
    """Plain JSON types from what pandas, numpy and Arrow hand back (NaN and NaT become None)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT_CHARS else value[:MAX_TEXT_CHARS] + "…"
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(item) for item in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return jsonable(value.tolist())
    return _jsonable_scalar(value)


def _jsonable_scalar(value: Any) -> Any:
    import pandas as pd

    if pd.isna(value):
        return None
    if isinstance(value, Decimal):  # DuckDB sums arrive as HUGEINT/DECIMAL
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
