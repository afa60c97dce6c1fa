"""The manifest of a published split version (`_meta/manifest.json`): its JSON shape, and the
typed value readers get from it.

warehouse/splits.py writes the JSON (its bytes are hashed by exports and handoffs, so its
shape is kept exactly); warehouse/versions.py reads it, raw (`load_manifest`) or typed
(`read_manifest`). Sections added after the first versions were published (the engine, the
realised fractions, the batch decisions) are optional in the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NotRequired, TypedDict

from warehouse.split_names import SplitName


class FileDigest(TypedDict):
    """A published split file's sha256 and size."""

    sha256: str
    bytes: int


class LabelCount(TypedDict):
    """Examples of one split, source and label."""

    split: SplitName
    source: str
    label: str
    n: int


class ChangeCounts(TypedDict):
    """Examples added, removed and changed against the parent version, as the JSON has them."""

    added: int
    removed: int
    changed: int


class ExcludedJson(TypedDict):
    n: int
    by_reason: dict[str, int]


class DecidedBatch(TypedDict):
    """A batch a person excluded from, or accepted into, the version; `decided_at` in ISO."""

    file_id: str
    source: str
    file_path: str
    reason: str
    decided_by: str
    decided_at: str


class BatchDecisionsJson(TypedDict):
    excluded: list[DecidedBatch]
    accepted: list[DecidedBatch]


class NewExampleFractions(TypedDict):
    target: dict[SplitName, float]
    training: dict[SplitName, float]


class AssignmentJson(TypedDict):
    """How the version assigned new examples (documentation for readers of the file)."""

    hash: str
    salt: str
    fractions_for_new_examples: NewExampleFractions
    sticky: str
    groups_with_both_distributions: NotRequired[str]


class SplitShare(TypedDict):
    """A split's configured and realised share of its distribution; realised is None when the
    distribution has no examples."""

    configured: float
    realised: float | None
    n: int


class DistributionFractions(TypedDict):
    """How one distribution's examples fell among its splits, and why off the configuration."""

    examples: int
    splits: dict[SplitName, SplitShare]
    largest_gap: float
    within_tolerance: bool
    components: int
    effective_components: float
    kept_from_earlier_versions: int
    excluded: int
    held_out_with_their_group: NotRequired[int]  # the training distribution only
    why: list[str]


class FractionsReport(TypedDict):
    """The manifest's `fractions` section (warehouse/split_fractions.py)."""

    tolerance: float
    target: DistributionFractions
    training: DistributionFractions


class ManifestJson(TypedDict):
    """`_meta/manifest.json` as published, key for key."""

    version: int
    parent_version: int | None
    created_at: str
    dataset: str
    config_hash: str
    engine: NotRequired[str]
    assignment: AssignmentJson
    counts: dict[SplitName, int]
    fractions: NotRequired[FractionsReport]
    counts_by_split_source_label: list[LabelCount]
    changes_vs_parent: ChangeCounts
    excluded: ExcludedJson
    batch_decisions: NotRequired[BatchDecisionsJson]
    files: dict[str, FileDigest]


@dataclass(frozen=True)
class SplitChanges:
    """Examples added, removed and changed (content) against the parent version."""

    added: int = 0
    removed: int = 0
    changed: int = 0

    @property
    def is_empty(self) -> bool:
        """Nothing changed: publishing would repeat the parent."""
        return not (self.added or self.removed or self.changed)

    def as_json(self) -> ChangeCounts:
        return {"added": self.added, "removed": self.removed, "changed": self.changed}


@dataclass(frozen=True)
class ExcludedExamples:
    """Examples left out of the version rather than leaked, counted by reason."""

    n: int
    by_reason: dict[str, int]


@dataclass(frozen=True)
class SplitManifest:
    """A published version's manifest, typed."""

    version: int
    parent_version: int | None
    created_at: datetime
    dataset: str
    config_hash: str
    engine: str | None  # None: published before the engine was recorded
    counts: dict[SplitName, int]
    changes: SplitChanges
    excluded: ExcludedExamples
    fractions: FractionsReport | None  # None: published before fractions were recorded
    counts_by_split_source_label: tuple[LabelCount, ...]
    files: dict[str, FileDigest]
    batch_decisions: BatchDecisionsJson
    assignment: AssignmentJson

    @classmethod
    def from_json(cls, raw: ManifestJson) -> SplitManifest:
        changes, excluded = raw["changes_vs_parent"], raw["excluded"]
        return cls(
            version=raw["version"],
            parent_version=raw["parent_version"],
            created_at=datetime.fromisoformat(raw["created_at"]),
            dataset=raw["dataset"],
            config_hash=raw["config_hash"],
            engine=raw.get("engine"),
            counts=raw["counts"],
            changes=SplitChanges(
                added=changes["added"], removed=changes["removed"], changed=changes["changed"]
            ),
            excluded=ExcludedExamples(n=excluded["n"], by_reason=excluded["by_reason"]),
            fractions=raw.get("fractions"),
            counts_by_split_source_label=tuple(raw["counts_by_split_source_label"]),
            files=raw["files"],
            # Versions published before batch decisions existed list none.
            batch_decisions=raw.get(
                "batch_decisions", BatchDecisionsJson(excluded=[], accepted=[])
            ),
            assignment=raw["assignment"],
        )
