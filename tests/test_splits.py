import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import write_csv
from warehouse.catalog import open_reader
from warehouse.hashing import split_bucket
from warehouse.ingest import ingest_landing_files
from warehouse.layout import WarehouseLayout
from warehouse.split_manifest import SplitChanges
from warehouse.splits import PublishResult, publish_split_version, published_versions
from warehouse.versions import changed_files, find_split_violations, load_manifest, read_manifest

WORDS = ["good", "bad", "fine", "awful", "great", "meh", "ok", "love", "hate", "slow"]

# One row: (source, user number, text word indexes, label)
row = st.tuples(
    st.sampled_from(["web", "app"]),
    st.integers(0, 15),
    st.lists(st.integers(0, len(WORDS) - 1), min_size=1, max_size=3),
    st.sampled_from(["neg", "pos"]),
)
batches = st.lists(row, min_size=1, max_size=40)
SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def land(layout, rows, batch: str, start: int = 0) -> None:
    by_source: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for i, (source, user, words, label) in enumerate(rows, start=start):
        # Texts collide on purpose (near-duplicates differ only in case and punctuation).
        text = " ".join(WORDS[w] for w in words)
        text = text.upper() + "!" if i % 3 == 0 else text
        by_source.setdefault(source, []).append((f"{batch}-{i}", f"u{user}", label, text, source))
    for source, source_rows in by_source.items():
        write_csv(layout.landing / source / f"{batch}.csv", source_rows)


def assignments(layout, config, version):
    with open_reader(layout, config) as con:
        return dict(
            con.execute(
                "SELECT example_id, split FROM splits WHERE version = ?", [version]
            ).fetchall()
        )


def fresh_layout() -> tuple[WarehouseLayout, tempfile.TemporaryDirectory]:
    tmp = tempfile.TemporaryDirectory()
    return WarehouseLayout(Path(tmp.name)).ensure(), tmp


def leaks(layout, config, version: int) -> list[tuple[str, str, list[str]]]:
    """Groups and near-duplicates in train beside another split, or in both dev and test,
    worked out here in Python from the published rows (not by the library's own check)."""
    with open_reader(layout, config) as con:
        rows = con.execute(
            "SELECT group_key, dedup_key, split FROM splits WHERE version = ?", [version]
        ).fetchall()
    found = []
    for kind, index in (("group", 0), ("duplicate", 1)):
        splits_of: dict[str, set[str]] = {}
        for row in rows:
            splits_of.setdefault(row[index], set()).add(row[2])
        for key, splits in splits_of.items():
            if ("train" in splits and len(splits) > 1) or {"dev", "test"} <= splits:
                found.append((kind, key, sorted(splits)))
    return found


@SETTINGS
@given(rows=batches)
def test_no_group_or_duplicate_is_trained_on_and_evaluated_and_dev_test_hold_only_target_rows(
    small_config, rows
):
    # Users 0-15 write to both sources, so most groups hold both kinds of record.
    layout, tmp = fresh_layout()
    with tmp:
        land(layout, rows, "a")
        ingest_landing_files(layout, small_config)
        result = publish_split_version(layout, small_config)
        with open_reader(layout, small_config) as con:
            violations = find_split_violations(con, result.version)
            by_split = con.execute(
                "SELECT split, list(DISTINCT distribution) FROM splits GROUP BY split"
            ).fetchall()
        assert leaks(layout, small_config, result.version) == []
        assert not any(violations.values()), violations
        allowed = {"dev": {"target"}, "test": {"target"}, "train_dev": {"training"}}
        for split, distributions in by_split:
            assert set(distributions) <= allowed.get(split, {"target", "training"})


@SETTINGS
@given(first=batches, second=batches, salt_changes=st.booleans())
def test_republishing_after_adding_data_never_moves_an_existing_example(
    small_config, first, second, salt_changes
):
    layout, tmp = fresh_layout()
    with tmp:
        land(layout, first, "a")
        ingest_landing_files(layout, small_config)
        v1 = publish_split_version(layout, small_config).version
        before = assignments(layout, small_config, v1)
        # New data follows new fractions; published examples must not care.
        changed = replace(
            small_config,
            splits=replace(
                small_config.splits,
                salt="other" if salt_changes else small_config.splits.salt,
                target={"train": 0.1, "dev": 0.45, "test": 0.45},
            ),
        )
        land(layout, second, "b", start=1000)
        ingest_landing_files(layout, changed)
        result = publish_split_version(layout, changed)
        latest = published_versions(layout)[-1]
        after = assignments(layout, changed, latest)
        assert {k: after[k] for k in before} == before
        assert result.created == (latest == v1 + 1)
        with open_reader(layout, changed) as con:
            assert not any(find_split_violations(con, latest).values())
        assert leaks(layout, changed, latest) == []


@SETTINGS
@given(first=batches, second=batches)
def test_a_published_versions_files_never_change(small_config, first, second):
    layout, tmp = fresh_layout()
    with tmp:
        land(layout, first, "a")
        ingest_landing_files(layout, small_config)
        publish_split_version(layout, small_config)
        manifest = load_manifest(layout, 1)
        land(layout, second, "b", start=1000)
        ingest_landing_files(layout, small_config)
        publish_split_version(layout, small_config)
        assert changed_files(layout, 1) == []
        assert load_manifest(layout, 1) == manifest


def test_publishing_with_no_change_creates_no_version(layout, small_config):
    land(layout, [("app", 1, [0], "pos"), ("web", 2, [1], "neg")], "a")
    ingest_landing_files(layout, small_config)
    assert publish_split_version(layout, small_config).version == 1
    again = publish_split_version(layout, small_config)
    assert (again.created, again.version, published_versions(layout)) == (False, None, [1])


def publish_two_versions(layout, config) -> PublishResult:
    """Version 1 of twelve app reviews, then version 2 adding one web review; v2's result."""
    land(layout, [("app", u, [u % 10], "pos") for u in range(12)], "a")
    ingest_landing_files(layout, config)
    publish_split_version(layout, config)
    land(layout, [("web", 3, [2, 3], "neg")], "b", start=50)
    ingest_landing_files(layout, config)
    return publish_split_version(layout, config)


def test_a_version_records_counts_files_and_changes_in_its_manifest(layout, small_config):
    publish_two_versions(layout, small_config)
    manifest = load_manifest(layout, 2)
    assert manifest["parent_version"] == 1
    assert manifest["changes_vs_parent"] == {"added": 1, "removed": 0, "changed": 0}
    assert sum(manifest["counts"].values()) == 13
    assert set(manifest["files"]) == {f"{s}.parquet" for s in ("train", "train_dev", "dev", "test")}
    assert manifest["config_hash"] == small_config.fingerprint()
    with open_reader(layout, small_config) as con:
        (n_added,) = con.execute("SELECT n_added FROM split_versions WHERE version = 2").fetchone()
    assert n_added == 1


def test_the_typed_manifest_reads_what_the_json_says(layout, small_config):
    result = publish_two_versions(layout, small_config)
    raw, manifest = load_manifest(layout, 2), read_manifest(layout, 2)
    assert (manifest.version, manifest.parent_version) == (2, 1)
    assert manifest.changes == SplitChanges(added=1, removed=0, changed=0)
    assert (result.n_added, result.n_removed, result.n_changed) == (1, 0, 0)
    assert manifest.created_at.isoformat() == raw["created_at"]
    assert manifest.counts == raw["counts"] == result.split_counts
    assert manifest.excluded.n == raw["excluded"]["n"] == result.n_excluded
    assert list(manifest.counts_by_split_source_label) == raw["counts_by_split_source_label"]
    assert manifest.fractions == raw["fractions"] and manifest.files == raw["files"]
    assert manifest.engine == raw["engine"] and manifest.config_hash == raw["config_hash"]


def test_splits_are_reproducible_by_plain_python_from_the_salt_and_group_key(layout, small_config):
    # No shared texts or users, so each example is its own component keyed by its user.
    n = 400
    write_csv(
        layout.landing / "app" / "a.csv",
        [(f"id{i}", f"user{i}", "pos", f"text number {i}", "app") for i in range(n)],
    )
    ingest_landing_files(layout, small_config)
    publish_split_version(layout, small_config)
    cuts = {"dev": 3000, "test": 6000}

    def python_split(key: str) -> str:
        bucket = split_bucket(small_config.splits.salt, key)
        return "dev" if bucket < cuts["dev"] else "test" if bucket < cuts["test"] else "train"

    got = assignments(layout, small_config, 1)
    assert got == {f"id{i}": python_split(f"user{i}") for i in range(n)}
    counts = Counter(got.values())
    assert 80 <= counts["dev"] <= 160 and 80 <= counts["test"] <= 160  # 30% of 400, roughly


def test_a_new_example_that_would_bridge_two_splits_is_excluded_not_leaked(layout, small_config):
    users = [(f"w{i}", f"u{i}", "pos", f"sentence {i}", "app") for i in range(40)]
    write_csv(layout.landing / "app" / "a.csv", users)
    ingest_landing_files(layout, small_config)
    publish_split_version(layout, small_config)
    first = assignments(layout, small_config, 1)
    a, b = next((x, y) for x in first for y in first if first[x] != first[y])
    user_of_a, text_of_b = f"u{a[1:]}", f"sentence {b[1:]}"
    write_csv(
        layout.landing / "app" / "b.csv",
        [("bridge", user_of_a, "neg", text_of_b, "app"), ("fresh", "u999", "pos", "new", "app")],
    )
    ingest_landing_files(layout, small_config)
    result = publish_split_version(layout, small_config)
    assert (result.version, result.n_added, result.n_excluded) == (2, 1, 1)
    reasons = load_manifest(layout, 2)["excluded"]["by_reason"]
    assert list(reasons) == [
        "joins examples already published in different splits; assigning it anywhere would leak"
    ]
    assert "bridge" not in assignments(layout, small_config, 2)


def test_publishing_an_empty_warehouse_says_what_to_do(layout, small_config):
    with pytest.raises(ValueError, match="land files under"):
        publish_split_version(layout, small_config)


def test_an_accepted_label_correction_changes_the_label_but_never_the_split(layout, small_config):
    from datetime import datetime

    from warehouse.lake_tables import LABEL_CORRECTIONS
    from warehouse.storage import write_lake_records

    write_csv(
        layout.landing / "app" / "a.csv",
        [(f"w{i}", f"u{i}", "pos", f"sentence {i}", "app") for i in range(30)],
    )
    ingest_landing_files(layout, small_config)
    publish_split_version(layout, small_config)
    before = assignments(layout, small_config, 1)
    correction = {
        "example_id": "w7",
        "split_version": 1,
        "old_label": "pos",
        "new_label": "neg",
        "accepted_at": datetime(2026, 1, 1),
        "reason": "3 of 3 annotators",
    }
    write_lake_records(
        layout,
        LABEL_CORRECTIONS.columns,
        [correction],
        layout.table_dir(LABEL_CORRECTIONS) / "accepted.parquet",
    )
    result = publish_split_version(layout, small_config)
    assert (result.version, result.n_changed, result.n_added) == (2, 1, 0)
    assert assignments(layout, small_config, 2) == before
    with open_reader(layout, small_config) as con:
        labels = con.execute(
            "SELECT version, label FROM splits WHERE example_id = 'w7' ORDER BY version"
        ).fetchall()
    assert labels == [(1, "pos"), (2, "neg")]


def test_a_chain_of_shared_texts_puts_every_linked_user_in_one_split(layout, small_config):
    # u0 shares a text with u1, u1 another with u2, ...: eleven users, one component.
    chain = [(f"a{i}", f"u{i}", "pos", f"chain text {i}", "app") for i in range(10)]
    chain += [(f"b{i}", f"u{i + 1}", "neg", f"Chain text {i}!", "app") for i in range(10)]
    loners = [(f"c{i}", f"v{i}", "pos", f"lonely text {i}", "app") for i in range(40)]
    write_csv(layout.landing / "app" / "a.csv", chain + loners)
    ingest_landing_files(layout, small_config)
    publish_split_version(layout, small_config)
    got = assignments(layout, small_config, 1)
    assert len({got[row[0]] for row in chain}) == 1
    assert len({got[row[0]] for row in loners}) > 1  # unlinked users spread over splits
    bucket = split_bucket(small_config.splits.salt, "u0")  # the chain is keyed by its least user
    expected = "dev" if bucket < 3000 else "test" if bucket < 6000 else "train"
    assert got["a0"] == expected


# Groups with both kinds of record (small_config: source "app" is target, "web" is training;
# target fractions dev 0.3, test 0.3, train 0.4; training fractions train 0.8, train-dev 0.2).
def target_split_of(key: str, salt: str = "test-salt") -> str:
    """Today's rule for a new component holding target examples, in plain Python."""
    bucket = split_bucket(salt, key)
    return "dev" if bucket < 3000 else "test" if bucket < 6000 else "train"


def training_split_of(key: str, salt: str = "test-salt") -> str:
    """Today's rule for a new component of training examples only."""
    return "train" if split_bucket(salt, key) < 8000 else "train_dev"


def reviews_by(users: list[str], source: str, tag: str) -> list[tuple]:
    return [
        (f"{user}-{source}-{tag}", user, "pos", f"{tag} {source} text of {user}", source)
        for user in users
    ]


def test_a_group_with_both_kinds_takes_the_target_fractions_and_keeps_training_out_of_train(
    layout, small_config
):
    users = [f"p{i}" for i in range(300)]
    write_csv(layout.landing / "app" / "a.csv", reviews_by(users, "app", "a"))
    write_csv(layout.landing / "web" / "a.csv", reviews_by(users, "web", "a"))
    ingest_landing_files(layout, small_config)
    publish_split_version(layout, small_config)
    got = assignments(layout, small_config, 1)
    for user in users:
        target = target_split_of(user)
        assert got[f"{user}-app-a"] == target
        assert got[f"{user}-web-a"] == ("train" if target == "train" else "train_dev")
    target_counts = Counter(got[f"{user}-app-a"] for user in users)
    assert 70 <= target_counts["dev"] <= 110 and 70 <= target_counts["test"] <= 110


def test_a_target_example_joining_a_group_published_in_train_dev_goes_to_dev_or_test(
    layout, small_config
):
    users = [f"w{i}" for i in range(300)]
    write_csv(layout.landing / "web" / "a.csv", reviews_by(users, "web", "a"))
    ingest_landing_files(layout, small_config)
    publish_split_version(layout, small_config)
    first = assignments(layout, small_config, 1)
    held_out = [u for u in users if first[f"{u}-web-a"] == "train_dev"]
    trained = [u for u in users if first[f"{u}-web-a"] == "train"]
    assert held_out and trained
    write_csv(layout.landing / "app" / "b.csv", reviews_by(users, "app", "b"))
    ingest_landing_files(layout, small_config)
    result = publish_split_version(layout, small_config)
    second = assignments(layout, small_config, 2)
    assert (result.n_added, result.n_excluded) == (300, 0)
    assert {k: second[k] for k in first} == first
    for user in held_out:  # dev or test by the second bucket, in the ratio dev 0.3 : test 0.3
        expected = "dev" if split_bucket("test-salt", user, part=1) < 5000 else "test"
        assert second[f"{user}-app-b"] == expected
    assert {second[f"{u}-app-b"] for u in held_out} == {"dev", "test"}
    assert {second[f"{u}-app-b"] for u in trained} == {"train"}


def test_a_training_example_joining_a_group_published_in_dev_or_test_is_held_out_in_train_dev(
    layout, small_config
):
    users = [f"a{i}" for i in range(120)]
    write_csv(layout.landing / "app" / "a.csv", reviews_by(users, "app", "a"))
    ingest_landing_files(layout, small_config)
    publish_split_version(layout, small_config)
    first = assignments(layout, small_config, 1)
    write_csv(layout.landing / "web" / "b.csv", reviews_by(users, "web", "b"))
    ingest_landing_files(layout, small_config)
    result = publish_split_version(layout, small_config)
    second = assignments(layout, small_config, 2)
    assert (result.n_added, result.n_excluded) == (120, 0)
    for user in users:
        published = first[f"{user}-app-a"]
        assert second[f"{user}-app-a"] == published
        assert second[f"{user}-web-b"] == ("train" if published == "train" else "train_dev")


def test_a_new_example_linking_a_group_in_train_to_one_in_dev_is_excluded_not_leaked(
    layout, small_config
):
    trainers = [f"w{i}" for i in range(40)]
    evaluated = [f"a{i}" for i in range(40)]
    write_csv(layout.landing / "web" / "a.csv", reviews_by(trainers, "web", "a"))
    write_csv(layout.landing / "app" / "a.csv", reviews_by(evaluated, "app", "a"))
    ingest_landing_files(layout, small_config)
    publish_split_version(layout, small_config)
    first = assignments(layout, small_config, 1)
    in_train = next(u for u in trainers if first[f"{u}-web-a"] == "train")
    in_dev = next(u for u in evaluated if first[f"{u}-app-a"] == "dev")
    # Written by the user in train, with the text of the user in dev: one component now.
    bridge = ("bridge", in_train, "neg", f"A APP TEXT OF {in_dev.upper()}!", "web")
    write_csv(layout.landing / "web" / "b.csv", [bridge])
    write_csv(layout.landing / "app" / "b.csv", [("fresh", "nobody", "pos", "new", "app")])
    ingest_landing_files(layout, small_config)
    result = publish_split_version(layout, small_config)
    assert (result.n_added, result.n_excluded) == (1, 1)
    reasons = load_manifest(layout, 2)["excluded"]["by_reason"]
    assert reasons == {
        "joins examples already published in different splits; assigning it anywhere would leak": 1
    }
    assert "bridge" not in assignments(layout, small_config, 2)


OLD_RULE_LAKE = Path(__file__).parent / "fixtures" / "old_rule_lake"


def test_a_lake_published_under_the_old_rule_publishes_its_next_version_without_moving_anything(
    layout, small_config
):
    shutil.copytree(OLD_RULE_LAKE, layout.home, dirs_exist_ok=True)
    before = assignments(layout, small_config, 1)
    mixed = [f"mixed{i:02d}" for i in range(40)]
    # The old rule put these users wholly in train although their hash says dev or test.
    assert {before[f"m{i}-app"] for i in range(40)} == {"train"}
    assert any(target_split_of(user) != "train" for user in mixed)
    targets, trainers = (
        [f"target{i:02d}" for i in range(30)],
        [f"training{i:02d}" for i in range(30)],
    )
    write_csv(layout.landing / "app" / "late.csv", reviews_by(mixed + trainers, "app", "late"))
    write_csv(layout.landing / "web" / "late.csv", reviews_by(mixed + targets, "web", "late"))
    ingest_landing_files(layout, small_config)
    result = publish_split_version(layout, small_config)
    after = assignments(layout, small_config, 2)
    assert (result.version, result.n_added, result.n_excluded) == (2, 140, 0)
    assert {k: after[k] for k in before} == before
    assert {after[f"{u}-{s}-late"] for u in mixed for s in ("app", "web")} == {"train"}
    for i, user in enumerate(targets):  # published target-only: training examples follow
        published = before[f"t{i}-app"]
        assert after[f"{user}-web-late"] == ("train" if published == "train" else "train_dev")
    for i, user in enumerate(trainers):  # published training-only: target examples follow
        published = before[f"r{i}-web"]
        assert after[f"{user}-app-late"] in ({"train"} if published == "train" else {"dev", "test"})
    assert leaks(layout, small_config, 2) == []
