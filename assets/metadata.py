"""Turning domain results into Dagster metadata people can read in the UI."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dagster as dg

#: An asset's or check's metadata: Dagster shows a plain str, int or float as it is.
Metadata = dict[str, dg.MetadataValue | str | int | float]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> dg.MetadataValue:
    def cell(value: object) -> str:
        text = f"{value:,}" if isinstance(value, int) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def percent(value: float | None, digits: int = 2) -> str:
    """A fraction as a percentage, or a dash when it was not measured."""
    return "—" if value is None else f"{value:.{digits}%}"
