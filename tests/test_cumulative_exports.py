"""A week of cumulative exports from two sources, some rows corrected upstream, each day run
through the real Dagster pipeline: every day publishes, and every count is exact."""

from __future__ import annotations

import csv
from dataclasses import dataclass

import pytest

from assets.run import materialize_pipeline
from bayesline.runner import ensure_dagster_home
from warehouse.catalog import open_reader
from warehouse.config import load_config
from warehouse.layout import WarehouseLayout
from warehouse.splits import published_versions

pytestmark = pytest.mark.slow

CONFIG_TOML = """
[dataset]
name = "support-tickets"
id_column = "ticket_id"
label_column = "priority"
labels = ["low", "high"]
text_columns = ["body"]
slice_columns = ["region"]

[sources]
target = ["helpdesk"]

[splits]
salt = "tickets-2026"
[splits.target]
train = 0.5
dev = 0.25
test = 0.25
[splits.training]
train = 0.85
train_dev = 0.15
"""
DAYS = 7  # a week of daily cumulative exports
SELECTION = "key:examples or key:published_splits"


@dataclass(frozen=True)
class Source:
    """A source system exporting every ticket it holds, each day."""

    name: str
    first_day: int  # tickets in the first export
    per_day: int  # new tickets each later day
    fix_every: int  # ticket i is corrected on day d (d >= 2) when (i + d) % fix_every == 0

    def tickets(self, day: int) -> int:
        return self.first_day + (day - 1) * self.per_day

    def fixes(self, ticket: int, day: int) -> int:
        """How many times a ticket was corrected up to and including `day`."""
        return sum(
            1
            for d in range(2, day + 1)
            if ticket < self.tickets(d - 1) and (ticket + d) % self.fix_every == 0
        )

    def changed_on(self, day: int) -> int:
        return sum(1 for i in range(self.tickets(day - 1)) if (i + day) % self.fix_every == 0)

    def row(self, ticket: int, day: int) -> list[str]:
        fixes = self.fixes(ticket, day)
        # The helpdesk corrects texts, the forum re-triages priorities.
        body = f"{self.name} ticket {ticket}: printer {ticket * 7 % 31} jams on tray {ticket % 5}"
        priority = ["low", "high"][ticket % 2]
        if self.name == "helpdesk":
            body += " (edited)" * fixes
        else:
            priority = ["low", "high"][(ticket + fixes) % 2]
        return [f"{self.name[0]}-{ticket}", priority, body, ["eu", "us", "apac"][ticket % 3]]


SOURCES = (
    Source("helpdesk", first_day=80, per_day=24, fix_every=4),
    Source("forum", first_day=120, per_day=30, fix_every=5),
)


def land_export(layout: WarehouseLayout, source: Source, day: int) -> None:
    """Write the day's export beside the landing folder, then move it in whole."""
    folder = layout.landing / source.name
    folder.mkdir(parents=True, exist_ok=True)
    partial = layout.home / f"{source.name}-day{day}.csv.partial"
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")  # as a spreadsheet export writes
        writer.writerow(["ticket_id", "priority", "body", "region"])
        writer.writerows(source.row(i, day) for i in range(source.tickets(day)))
    partial.replace(folder / f"export-day{day}.csv")


@pytest.fixture
def tickets_layout(tmp_path, monkeypatch) -> WarehouseLayout:
    config_path = tmp_path / "tickets.toml"
    config_path.write_text(CONFIG_TOML)
    monkeypatch.setenv("BAYESLINE_CONFIG", str(config_path))
    layout = WarehouseLayout.from_env().ensure()
    ensure_dagster_home(layout)
    return layout


def test_a_week_of_cumulative_exports_publishes_a_version_a_day_with_every_revision_kept(
    tickets_layout,
):
    layout, config = tickets_layout, load_config()
    for day in range(1, DAYS + 1):
        for source in SOURCES:
            land_export(layout, source, day)
        outcome = materialize_pipeline(SELECTION)
        checks = {e.name: e.ok for e in outcome.events if e.kind == "check"}
        assert outcome.success, [e for e in outcome.events if not e.ok]
        assert checks["batches_have_sane_row_counts"] and checks["examples_have_unique_ids"]
        assert published_versions(layout) == list(range(1, day + 1))
        with open_reader(layout, config) as con:
            assert_day_counts(con, day)
    with open_reader(layout, config) as con:
        assert_history_is_whole(con)


def assert_day_counts(con, day: int) -> None:
    files = con.execute(
        "SELECT source, rows_read, rows_loaded, rows_updated, rows_already_present, "
        "rows_rejected FROM ingested_files WHERE file_path LIKE ? ORDER BY source",
        [f"%/export-day{day}.csv"],
    ).fetchall()
    expected_files = []
    for source in sorted(SOURCES, key=lambda s: s.name):
        before = source.tickets(day - 1) if day > 1 else 0
        changed = source.changed_on(day) if day > 1 else 0
        new = source.tickets(day) - before
        expected_files.append(
            (source.name, source.tickets(day), new + changed, changed, before - changed, 0)
        )
    assert files == expected_files
    added, changed, removed = con.execute(
        "SELECT n_added, n_changed, n_removed FROM split_versions WHERE version = ?", [day]
    ).fetchone()
    assert added == sum(f[1] - f[4] - f[3] for f in expected_files)
    assert (changed, removed) == (sum(f[3] for f in expected_files), 0)
    assert con.execute("SELECT count(*) FROM examples").fetchone()[0] == sum(
        s.tickets(day) for s in SOURCES
    )


def assert_history_is_whole(con) -> None:
    revisions = dict(
        con.execute("SELECT example_id, count(*) FROM example_revisions GROUP BY 1").fetchall()
    )
    expected = {
        f"{s.name[0]}-{i}": 1 + s.fixes(i, DAYS) for s in SOURCES for i in range(s.tickets(DAYS))
    }
    assert revisions == expected
    assert max(expected.values()) == 3  # some tickets really were corrected twice
    # The newest revision is the example, and its content is the last export's.
    latest = dict(con.execute("SELECT example_id, body || label FROM examples").fetchall())
    assert latest == {
        f"{s.name[0]}-{i}": (row := s.row(i, DAYS))[2] + row[1]
        for s in SOURCES
        for i in range(s.tickets(DAYS))
    }
    # Each example keeps the split it was first published in, through every correction.
    movers = con.execute(
        "SELECT example_id FROM splits GROUP BY example_id HAVING count(DISTINCT split) > 1"
    ).fetchall()
    assert movers == []
    corrected_in_dev_or_test = con.execute(
        "SELECT count(DISTINCT example_id) FROM splits WHERE split IN ('dev', 'test') "
        "AND example_id IN (SELECT example_id FROM example_revisions WHERE revision > 1)"
    ).fetchone()[0]
    assert corrected_in_dev_or_test > 0  # stickiness was tested where it matters
