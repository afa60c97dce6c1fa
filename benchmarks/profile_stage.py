"""Profile one warehouse stage with pyinstrument, to show where a missed target's time goes.

The stages before it run unprofiled on the same synthetic data; the profile of the chosen stage
goes to benchmarks/profiles/<stage>-<rows>.txt, which BENCHMARKS.md links. Usage:

    python -m benchmarks.profile_stage publish --rows 1000000
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks import bench_evaluation, bench_pipeline
from benchmarks.measure import quiet_duckdb

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
#: Each profiled stage: the benchmark module that prepares its input and runs it, and the
#: stages of that module that must run first.
STAGES = {
    "ingest": (bench_pipeline, []),
    "quality_gate": (bench_pipeline, ["ingest"]),
    "publish": (bench_pipeline, ["ingest"]),
    "slice_diagnosis": (bench_evaluation, []),  # its prepare ingests and publishes
}


def profile_stage(stage: str, rows: int, work_dir: Path, out_dir: Path = PROFILES_DIR) -> Path:
    """Run `stage` under pyinstrument after its prerequisites; return the profile's path."""
    from pyinstrument import Profiler

    quiet_duckdb()
    module, before = STAGES[stage]
    module.prepare(work_dir, rows)
    for earlier in before:
        getattr(module, earlier)(work_dir, rows)
    profiler = Profiler()
    with profiler:
        getattr(module, stage)(work_dir, rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{stage}-{rows}.txt"
    out.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bayesline-profile-") as tmp:
        print(profile_stage(args.stage, args.rows, Path(tmp)))


if __name__ == "__main__":
    main()
