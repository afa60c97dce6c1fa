"""The export's README.md: a data card rendered from `CardFacts`, with the YAML header that
makes `datasets.load_dataset(DIR)` find the four splits and type the label as a ClassLabel."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TypedDict

import pyarrow as pa
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

from handoff.card_facts import CardFacts
from handoff.hf import LABEL
from warehouse.catalog import SqlRow
from warehouse.hashing import BUCKETS, split_bucket_spark_sql
from warehouse.slice_names import is_overall
from warehouse.split_names import DISTRIBUTIONS, SPLITS
from warehouse.splits import version_dir_name


class ExportedFile(TypedDict):
    """One data file of an export, as handoff/export writes it and the card lists it."""

    path: str  # relative to the export's folder
    rows: int
    bytes: int
    sha256: str


#: Split name -> its exported file.
ExportedFiles = dict[str, ExportedFile]

MAX_SLICE_ROWS = 15  # diagnosis slices shown with a problem; the rest are in SQL
GAPS = ("avoidable_bias", "variance", "data_mismatch", "dev_overfitting")


def hf_dtype(arrow_type: pa.DataType) -> str:
    """The `datasets` dtype name of an Arrow type, as a dataset card's YAML writes it."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_floating(arrow_type):
        return f"float{arrow_type.bit_width}"
    return str(arrow_type)  # int32, int64, bool, timestamp[us]: the same names


def yaml_header(facts: CardFacts, schema: pa.Schema, files: ExportedFiles) -> dict[str, object]:
    """`configs` (which file is which split) and `dataset_info` (features, split sizes)."""
    features = []
    for field in schema:
        if field.name == LABEL:
            names = {str(i): name for i, name in enumerate(facts.config.dataset.labels)}
            features.append({"name": field.name, "dtype": {"class_label": {"names": names}}})
        else:
            features.append({"name": field.name, "dtype": hf_dtype(field.type)})
    splits = [
        {"name": s, "num_bytes": files[s]["bytes"], "num_examples": files[s]["rows"]}
        for s in SPLITS
    ]
    size = sum(f["bytes"] for f in files.values())
    return {
        "pretty_name": f"{facts.manifest['dataset']} split v{facts.version}",
        "tags": ["bayesline", f"split-version-{facts.version}"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": files[s]["path"]} for s in SPLITS],
            }
        ],
        "dataset_info": {
            "features": features,
            "splits": splits,
            "download_size": size,
            "dataset_size": size,
        },
    }


def render_card(
    facts: CardFacts, schema: pa.Schema, files: ExportedFiles, fmt: str, exported_at: datetime
) -> str:
    header = yaml.safe_dump(yaml_header(facts, schema, files), sort_keys=False)
    sections = [
        _intro(facts, fmt, exported_at),
        _splits_section(facts),
        _sources_section(facts),
        _recipe_section(facts),
        _human_section(facts),
        _diagnosis_section(facts),
        _excluded_section(facts),
        _predictions_section(facts),
        _checksums_section(facts, files),
    ]
    return f"---\n{header}---\n\n" + "\n\n".join(sections) + "\n"


def _intro(facts: CardFacts, fmt: str, exported_at: datetime) -> str:
    m = facts.manifest
    published = m["created_at"][:19].replace("T", " ")
    return f"""# {m["dataset"]}: split version {facts.version}

Split version **v{facts.version}** of `{m["dataset"]}` (published {published} UTC, parent
version: {m["parent_version"] or "none"}), exported by Bayesline on {exported_at:%Y-%m-%d %H:%M}
UTC as {fmt} files: {facts.n_examples:,} examples. Every row carries `version` = {facts.version};
the version's manifest has sha256 `{facts.manifest_sha256}`.

```python
from datasets import load_dataset

splits = load_dataset("path/to/this/folder")  # train, train_dev, dev, test
train = splits["train"].with_format("torch", columns={_torch_columns(facts)})
```

The label (`{facts.config.dataset.label_column}` in the landing files) is the `{LABEL}` column,
a `ClassLabel`: {_class_ids(facts)}."""


def _torch_columns(facts: CardFacts) -> str:
    """The payload and the label: a DataLoader batches them (timestamps it cannot)."""
    return json.dumps([*facts.config.dataset.payload_columns, LABEL])


def _class_ids(facts: CardFacts) -> str:
    return ", ".join(f"{i} = `{name}`" for i, name in enumerate(facts.config.dataset.labels))


def _splits_section(facts: CardFacts) -> str:
    labels = facts.config.dataset.labels
    by_split_label: dict[tuple[str, str], int] = {}
    for row in facts.counts:
        key = (row["split"], row["label"])
        by_split_label[key] = by_split_label.get(key, 0) + row["n"]
    rows = [
        [s, f"{facts.manifest['counts'][s]:,}"]
        + [f"{by_split_label.get((s, label), 0):,}" for label in labels]
        for s in SPLITS
    ]
    detail = [[r["split"], r["source"], r["label"], f"{r['n']:,}"] for r in facts.counts]
    return (
        "## Splits\n\n"
        + _table(["split", "examples", *labels], rows)
        + "\n\n![Examples per split and source](split_sizes.png)\n\n"
        + "Per split, source and label:\n\n"
        + _table(["split", "source", "label", "examples"], detail)
    )


def _sources_section(facts: CardFacts) -> str:
    target = [r["source"] for r in facts.sources if r["distribution"] == "target"]
    rows = [
        [r["source"], "target" if r["distribution"] == "target" else "training", f"{r['n']:,}"]
        for r in facts.sources
    ]
    return (
        "## Sources\n\n"
        f"The **target distribution**, the data the product meets, is {_names(target)}: dev and "
        "test hold only its examples, so they measure what matters. The other sources feed "
        "train and train_dev (train_dev tells variance apart from data mismatch).\n\n"
        + _table(["source", "distribution", "examples"], rows)
    )


def _recipe_section(facts: CardFacts) -> str:
    assignment = facts.manifest["assignment"]
    salt = assignment["salt"]
    fractions = assignment["fractions_for_new_examples"]
    cuts = "; ".join(
        f"{d}: " + ", ".join(f"{s} below {b}" for s, b in facts.cut_points[d])
        for d in DISTRIBUTIONS
    )
    python_cuts = json.dumps({d: facts.cut_points[d] for d in DISTRIBUTIONS})
    return f"""## Split recipe

Salt `{salt}`; fractions for new examples: target {_fractions(fractions["target"])}, training
{_fractions(fractions["training"])}. Hash rule: {assignment["hash"]}. A component (examples
sharing a group key, or a normalised text across groups) goes whole to one split; its key is
its smallest group key. A component of training examples only takes its split from the training
fractions; one holding target examples takes dev, test or train from the target fractions, and
its training examples go to train beside train, to train-dev beside dev or test. Cut points over
the {BUCKETS:,} buckets ({cuts}). Assignment is sticky: an example keeps the split it was
first published in, whatever the fractions or salt say later.

The plain rule over an example's own `group_key` gives the split of
**{facts.reproduced:,} of {facts.n_examples:,}** examples of this version; the others belong to
a component linked through a shared text (its key is another group's) or were first published
under other fractions.

```python
import hashlib

CUTS = {python_cuts}

def split_of(
    group_key: str, distribution: str, group_has_target: bool, salt: str = {json.dumps(salt)}
) -> str:
    digest = hashlib.sha256(f"{{salt}}\\x1f{{group_key}}".encode()).hexdigest()
    bucket = int(digest[:8], 16) % {BUCKETS}
    cuts = CUTS["target" if group_has_target else "training"]
    split = next(split for split, bound in cuts if bucket < bound)
    if distribution == "training" and split in ("dev", "test"):
        return "train_dev"  # held out beside its group's dev or test examples
    return split
```

```sql
-- DuckDB
SELECT ('0x' || substr(sha256({_sql_text(salt)} || chr(31) || group_key), 1, 8))::UBIGINT
       % {BUCKETS} AS bucket FROM read_parquet('data/*.parquet');
-- Spark
SELECT {split_bucket_spark_sql(_sql_text(salt), "group_key")} AS bucket FROM examples;
```"""


def _human_section(facts: CardFacts) -> str:
    if not facts.human_levels:
        configured = facts.config.evaluation.human_level_error
        said = (
            f" The config assumes {configured:.1%} (`[evaluation] human_level_error`)."
            if configured is not None
            else ""
        )
        return (
            f"## Human-level error\n\nNot measured on v{facts.version}: no human baseline was "
            f"computed from annotations on this version.{said}"
        )
    rows = [
        [
            _slice(r),
            f"{r['n_examples']:,}",
            str(r["n_annotators"]),
            f"{_pct(r['consensus_error'])} [{_pct(r['consensus_ci_low'])}, "
            f"{_pct(r['consensus_ci_high'])}]",
            _pct(r["typical_annotator_error"]),
            "simulated" if r["simulated"] else "people",
        ]
        for r in facts.human_levels
    ]
    return (
        "## Human-level error\n\nThe error of the annotators' consensus (95% interval) beside "
        "the typical annotator's, per slice where measured:\n\n"
        + _table(["slice", "examples", "annotators", "consensus", "typical", "by"], rows)
    )


def _diagnosis_section(facts: CardFacts) -> str:
    if not facts.diagnosed_model:
        return (
            f"## Diagnosis\n\nNo model has been evaluated on v{facts.version} yet: "
            "`bayesline materialize --select slice_metrics+` evaluates the baseline."
        )
    overall = [r for r in facts.diagnosis if is_overall(r["slice_column"])]
    flagged = [r for r in facts.diagnosis if not is_overall(r["slice_column"]) and r["problems"]]
    rows = [_diagnosis_row(r) for r in overall + flagged[:MAX_SLICE_ROWS]]
    more = len(flagged) - MAX_SLICE_ROWS
    tail = f"\n\n{more} more slices with a problem are in the `diagnosis` view." if more > 0 else ""
    return (
        f"## Diagnosis of `{facts.diagnosed_model}`\n\n{facts.diagnosed_because.capitalize()}, "
        f"on v{facts.version}: error per stage and the gaps (percentage points) that are "
        "problems to work on (overall, and the slices with one):\n\n"
        + _table(["slice", "human", "train", "train_dev", "dev", "test", *GAPS, "problems"], rows)
        + tail
    )


def _diagnosis_row(row: SqlRow) -> list[str]:
    errors = [_pct(row[k]) for k in ("human_level_error", "train_error", "train_dev_error")]
    errors += [_pct(row["dev_error"]), _pct(row["test_error"])]
    gaps = [_pp(row[g]) for g in GAPS]
    return [_slice(row), *errors, *gaps, row["problems"] or "none"]


def _excluded_section(facts: CardFacts) -> str:
    excluded = facts.manifest["excluded"]
    lines = [f"- {n:,}: {reason}" for reason, n in sorted(excluded["by_reason"].items())]
    decisions = facts.manifest.get("batch_decisions", {})
    for state, batches in decisions.items():
        lines += [
            f"- batch `{b['file_path']}` {state}: {b['reason']} ({b['decided_by']})"
            for b in batches
        ]
    body = "\n".join(lines) if lines else "None: every example in force is in a split."
    return (
        f"## Examples left out\n\n{excluded['n']:,} examples are in no split of this version, "
        f"rather than leak across splits:\n\n{body}"
    )


def _predictions_section(facts: CardFacts) -> str:
    return f"""## Predictions back

A model trained on this export registers its predictions against the version this card
names, with the `example_id` column:

```bash
bayesline predictions add preds.parquet --model-version my-model-1 --split-version {facts.version}
```

A file of predictions on other examples, or one whose `split_version` column names another
version, is refused."""


def _checksums_section(facts: CardFacts, files: ExportedFiles) -> str:
    exported = [
        [f["path"], f"{f['rows']:,}", f"{f['bytes']:,}", f"`{f['sha256']}`"] for f in files.values()
    ]
    source = [
        [f"splits/{version_dir_name(facts.version)}/{name}", f"`{f['sha256']}`"]
        for name, f in sorted(facts.manifest["files"].items())
    ]
    return (
        "## Checksums\n\nThis folder's data files (also in `checksums.sha256`: "
        "`sha256sum -c checksums.sha256`):\n\n"
        + _table(["file", "rows", "bytes", "sha256"], exported)
        + "\n\nThe published files they were exported from, as the version's manifest "
        "records them:\n\n" + _table(["file", "sha256"], source)
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _slice(row: SqlRow) -> str:
    if is_overall(row["slice_column"]):
        return "overall"
    return f"{row['slice_column']} = {row['slice_value']}"


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "no source"


def _fractions(fractions: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in fractions.items())


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


def _pp(gap: float | None) -> str:
    return "n/a" if gap is None else f"{gap * 100:+.1f}"
