"""Handing a split version to training code: the train split streamed in record batches, next
to the same split loaded whole (its reference, for memory: streaming should hold one batch,
loading holds the split); the same split streamed as a `datasets` IterableDataset; and a
version exported to a folder with its data card.

Each stage verifies the files' sha256s first, as every load does; `split_arrow_mib` is the size
the whole split takes as Arrow, to read each peak RSS against.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_evaluation import newest_version
from benchmarks.bench_pipeline import bench_config, bench_layout
from benchmarks.measure import StageSpec
from warehouse.splits import published_versions

SPLIT = "train"
HF_BATCH_ROWS = 10_000

SPECS = [
    StageSpec("load_split_whole", "benchmarks.bench_handoff:load_split_whole"),
    StageSpec(
        "stream_split_batches",
        "benchmarks.bench_handoff:stream_split_batches",
        reference="load_split_whole",
    ),
    StageSpec("stream_split_hf", "benchmarks.bench_handoff:stream_split_hf"),
    StageSpec("export_parquet", "benchmarks.bench_handoff:export_parquet"),
]


def prepare(work_dir: Path, rows: int) -> None:
    """A published split version (untimed), unless an earlier group published one."""
    from benchmarks import bench_pipeline

    if not published_versions(bench_layout(work_dir)):
        bench_pipeline.prepare(work_dir, rows)
        bench_pipeline.ingest(work_dir, rows)
        bench_pipeline.publish(work_dir, rows)


def rss_mib() -> int:
    """This process's resident memory now: the peak minus this is what reading added."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024)
    return 0


def load_split_whole(work_dir: Path, rows: int) -> dict:
    from handoff.api import load_split

    layout = bench_layout(work_dir)
    before = rss_mib()
    table = load_split(newest_version(layout), SPLIT, home=layout.home, config=bench_config())
    return {
        "rows": table.num_rows,
        "split_arrow_mib": round(table.nbytes / 2**20),
        "rss_before_mib": before,
    }


def stream_split_batches(work_dir: Path, rows: int) -> dict:
    from handoff.api import iter_split_batches

    layout = bench_layout(work_dir)
    before = rss_mib()
    batches = iter_split_batches(newest_version(layout), SPLIT, home=layout.home)
    seen, arrow_bytes, largest = 0, 0, 0
    tenth = max(1, batches.num_rows // 10)
    rss_by_tenth = []  # flat after the first batches: memory does not follow the split
    for batch in batches:
        if (seen + batch.num_rows) // tenth > seen // tenth:
            rss_by_tenth.append(rss_mib())
        seen += batch.num_rows
        arrow_bytes += batch.nbytes
        largest = max(largest, batch.nbytes)
    return {
        "rss_by_tenth_mib": rss_by_tenth,
        "rows": seen,
        "split_arrow_mib": round(arrow_bytes / 2**20),
        "largest_batch_mib": round(largest / 2**20, 1),
        "rss_before_mib": before,
    }


def stream_split_hf(work_dir: Path, rows: int) -> dict:
    from handoff.api import load_split

    layout = bench_layout(work_dir)
    stream = load_split(
        newest_version(layout),
        SPLIT,
        as_="hf",
        streaming=True,
        home=layout.home,
        config=bench_config(),
    )
    seen = sum(len(batch["example_id"]) for batch in stream.iter(batch_size=HF_BATCH_ROWS))
    return {"rows": seen}


def export_parquet(work_dir: Path, rows: int) -> dict:
    from handoff.export import export_version

    layout = bench_layout(work_dir)
    result = export_version(
        layout, bench_config(), newest_version(layout), work_dir / "export", force=True
    )
    return {"rows": sum(f["rows"] for f in result.files.values())}
