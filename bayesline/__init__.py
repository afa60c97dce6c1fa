"""Bayesline's public Python API: load a published split version for training.

    from bayesline import load_split, load_splits, iter_split_batches, version_of

Imported on first use, so the `bayesline` command does not pay for pyarrow's Parquet reader.
"""

from typing import Any

__all__ = ["iter_split_batches", "load_split", "load_splits", "version_of"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from handoff import api

        return getattr(api, name)
    raise AttributeError(f"module 'bayesline' has no attribute {name!r}")
