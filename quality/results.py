"""The verdict of one quality check, in plain data a person (or Dagster metadata) can read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warn"]
ERROR: Severity = "error"  # a failure blocks publishing
WARN: Severity = "warn"  # a failure is reported but does not block


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    severity: Severity
    description: str
    observed: dict[str, Any] = field(default_factory=dict)
    failing_examples: list[dict[str, Any]] = field(default_factory=list)
    remedy: str = ""

    @property
    def blocks_publishing(self) -> bool:
        return not self.passed and self.severity == ERROR

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
