"""`python -m bayesline.demo LANDING_DIR [--seed N] [--n-training N] [--n-target N]`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from bayesline.demo.generate import check_sizes, generate_demo_data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bayesline.demo",
        description="Write the Bayesline demo landing files (deterministic for a seed).",
    )
    parser.add_argument("landing_dir", type=Path, help="landing directory; files go to <source>/")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    parser.add_argument("--n-training", type=int, default=6000, help="training-source rows")
    parser.add_argument("--n-target", type=int, default=3000, help="target-source rows")
    args = parser.parse_args(argv)
    try:
        check_sizes(args.n_training, args.n_target)
    except ValueError as exc:
        parser.error(str(exc))
    summary = generate_demo_data(args.landing_dir, args.seed, args.n_training, args.n_target)
    print(summary.describe())
    return 0
