import copy
from datetime import date

import pytest

from tests.conftest import REPO_ROOT, SMALL_CONFIG, small_config_toml
from warehouse.config import ConfigError, SliceConfig, SliceEdges, load_config, parse_config


def small(**changes):
    raw = copy.deepcopy(SMALL_CONFIG)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        table = raw
        for name in parents:
            table = table.setdefault(name, {})
        table[leaf] = value
    return raw


def test_the_bundled_demo_config_is_valid():
    config = load_config(REPO_ROOT / "bayesline.toml")
    assert config.target_sources == ("app_reviews",)
    assert config.distribution_of("app_reviews") == "target"
    assert config.distribution_of("web_reviews") == "training"


def test_an_unknown_key_is_named_with_its_section_and_the_closest_allowed_key():
    with pytest.raises(ConfigError) as raised:
        parse_config(small(dataset__lable_column="label"))
    message = str(raised.value)
    assert "unknown key(s) in [dataset]: lable_column (did you mean label_column?)" in message
    assert "Allowed in [dataset]: group_column, id_column, image_columns, label_column" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match=r"in \[splits.target\]: tset \(did you mean test\?\)"):
        parse_config(small(splits__target={"train": 0.4, "dev": 0.3, "tset": 0.3}))
    # Nothing close: the key alone, then what is allowed there.
    with pytest.raises(ConfigError, match=r"the top level \(before any \[section\]\): zzz\. "):
        parse_config(small(zzz=1))


def test_quality_thresholds_must_be_numbers_and_rates_fractions():
    with pytest.raises(ConfigError, match=r"max_batch_reject_rate must be a number, not 'high'"):
        parse_config(small(quality__max_batch_reject_rate="high"))
    with pytest.raises(ConfigError, match=r"max_batch_reject_rate is a fraction in \[0, 1\]"):
        parse_config(small(quality__max_batch_reject_rate=20))


def test_fractions_that_do_not_sum_to_one_are_refused_with_their_values():
    with pytest.raises(
        ConfigError, match=r"sum to 1.1, not 1 \(train = 0.5, dev = 0.3.*add up to 1"
    ):
        parse_config(small(splits__target={"train": 0.5, "dev": 0.3, "test": 0.3}))


def test_a_missing_section_or_column_role_is_reported():
    raw = small()
    del raw["splits"]["training"]
    with pytest.raises(ConfigError, match=r"missing \[splits.training\]"):
        parse_config(raw)
    with pytest.raises(ConfigError, match="at least one payload column"):
        parse_config(small(dataset__text_columns=[]))
    with pytest.raises(ConfigError, match="more than one role"):
        parse_config(small(dataset__slice_columns=["text"]))


def test_a_missing_config_file_says_how_to_get_one(tmp_path):
    with pytest.raises(ConfigError, match="BAYESLINE_CONFIG"):
        load_config(tmp_path / "nope.toml")


def test_the_fingerprint_changes_with_the_salt_only_when_it_changes():
    a = parse_config(small())
    assert a.fingerprint() == parse_config(small()).fingerprint()
    assert a.fingerprint() != parse_config(small(splits__salt="other")).fingerprint()


def test_the_baseline_training_cap_defaults_and_must_be_positive():
    assert parse_config(copy.deepcopy(SMALL_CONFIG)).evaluation.baseline_max_train_rows == 200_000
    raw = copy.deepcopy(SMALL_CONFIG)
    raw["evaluation"] = {"baseline_max_train_rows": 0}
    with pytest.raises(ConfigError, match="baseline_max_train_rows must be at least 1"):
        parse_config(raw)


def test_the_material_gap_share_defaults_to_half_and_must_be_a_fraction():
    assert parse_config(small()).evaluation.material_gap_share == 0.5
    assert (
        parse_config(small(evaluation__material_gap_share=0.3)).evaluation.material_gap_share == 0.3
    )
    for bad in (25, -0.1, "half", True):
        with pytest.raises(ConfigError, match=r"material_gap_share is a fraction in \[0, 1\]"):
            parse_config(small(evaluation__material_gap_share=bad))


def sliced(**slices):
    raw = small(dataset__slice_columns=["device", "age", "signup"])
    raw["slices"] = slices
    return raw


def test_slice_edges_are_numbers_or_dates_in_increasing_order_for_a_slice_column():
    config = parse_config(
        sliced(
            quantile_bins=4,
            max_distinct_values=20,
            by_value=["device"],
            edges={"age": [18, 30.5, 65], "signup": [date(2024, 1, 1), "2024-07-01"]},
        )
    )
    assert config.slices.quantile_bins == 4 and config.slices.max_distinct_values == 20
    assert config.slices.by_value == ("device",)
    assert config.slices.edges["age"] == SliceEdges("number", ("18", "30.5", "65"))
    assert config.slices.edges["signup"] == SliceEdges("date", ("2024-01-01", "2024-07-01"))
    assert parse_config(small()).slices == SliceConfig()  # defaults: 5 bins, 50 values


@pytest.mark.parametrize(
    ("slices", "message"),
    [
        ({"edges": {"age": [30, 18]}}, r"\[slices.edges\] age .* is not strictly increasing"),
        ({"edges": {"age": [18, "2024-01-01"]}}, r"age .* it mixes dates and numbers"),
        ({"edges": {"age": ["young", "old"]}}, r"'young' is neither a number nor an ISO date"),
        ({"edges": {"age": []}}, r"age must be a list of increasing cut points"),
        ({"edges": {"plan": [1, 2]}}, r"edges names plan, not in \[dataset\] slice_columns"),
        ({"by_value": ["zip"]}, r"by_value names zip, not in \[dataset\] slice_columns"),
        ({"by_value": ["age"], "edges": {"age": [1]}}, r"age is both in by_value and given"),
        ({"quantile_bins": 1}, r"quantile_bins must be a whole number of at least 2"),
        ({"max_distinct_values": "many"}, r"max_distinct_values must be a whole number"),
        ({"edges": 5}, r"edges is a table of column = \[cut points\]"),
        ({"quantile_bin": 3}, r"in \[slices\]: quantile_bin \(did you mean quantile_bins\?\)"),
    ],
)
def test_a_wrong_slices_section_says_what_to_change_in_one_line(slices, message):
    with pytest.raises(ConfigError, match=message) as raised:
        parse_config(sliced(**slices))
    assert "\n" not in str(raised.value)


def test_slice_edges_written_as_toml_dates_load_from_a_file(tmp_path):
    path = tmp_path / "bayesline.toml"
    path.write_text(
        small_config_toml(dataset={"slice_columns": ["device", "opened"]})
        + "\n[slices.edges]\nopened = [2024-03-01, 2024-03-01T12:00:00]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="mixes dates and timestamps"):
        load_config(path)
    path.write_text(
        small_config_toml(dataset={"slice_columns": ["device", "opened"]})
        + "\n[slices.edges]\nopened = [2024-03-01T08:00:00, 2024-03-01T12:30:00]\n",
        encoding="utf-8",
    )
    edges = load_config(path).slices.edges["opened"]
    assert edges == SliceEdges("timestamp", ("2024-03-01 08:00:00", "2024-03-01 12:30:00"))


def test_the_materiality_knobs_in_the_config_change_which_gaps_are_problems():
    from evaluation.diagnosis import ErrorRate, MaterialityRule, diagnose

    errors = {"human_level": ErrorRate(0.02), "train": ErrorRate(0.05), "dev": ErrorRate(0.075)}
    default = MaterialityRule.from_config(parse_config(small()).evaluation)
    assert (default.absolute_floor, default.confidence) == (0.005, 0.95)
    assert diagnose(**errors, rule=default).problems == ["avoidable_bias", "variance"]
    strict = parse_config(small(evaluation__material_gap_floor=0.028)).evaluation
    assert diagnose(**errors, rule=MaterialityRule.from_config(strict)).problems == [
        "avoidable_bias"
    ]
    for bad in (1, -0.01, "half", True):
        with pytest.raises(ConfigError, match=r"material_gap_floor is a fraction in \[0, 1\)"):
            parse_config(small(evaluation__material_gap_floor=bad))
    with pytest.raises(ConfigError, match=r"material_gap_confidence is a one-sided level"):
        parse_config(small(evaluation__material_gap_confidence=0.5))


def test_the_review_thresholds_and_gate_memory_cap_default_and_are_checked():
    config = parse_config(small())
    assert (
        config.labeling.review_min_annotators,
        config.labeling.review_min_confidence,
        config.labeling.review_min_agreement,
        config.quality.gate_memory_limit_mb,
    ) == (3, 0.9, 0.75, 1024)
    with pytest.raises(ConfigError, match="review_min_annotators must be at least 2"):
        parse_config(small(labeling__review_min_annotators=1))
    with pytest.raises(ConfigError, match=r"review_min_agreement is a fraction in \(0, 1\]"):
        parse_config(small(labeling__review_min_agreement=1.5))
    with pytest.raises(ConfigError, match="gate_memory_limit_mb is whole MiB, at least 64"):
        parse_config(small(quality__gate_memory_limit_mb=8))
