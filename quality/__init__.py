"""Quality gate over the warehouse views: DuckDB shapes the data, Great Expectations judges it."""

from quality.gate import CHECK_NAMES, CHECK_SEVERITIES, gate_passes, run_quality_checks
from quality.results import CheckOutcome

__all__ = ["CHECK_NAMES", "CHECK_SEVERITIES", "CheckOutcome", "gate_passes", "run_quality_checks"]
