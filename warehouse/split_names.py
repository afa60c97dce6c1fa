"""The four splits and the two distributions they are drawn from, as every table spells them.

Target splits (train, dev, test) hold examples from the distribution the model will meet;
training splits (train, train_dev) hold the rest. Train takes both; train_dev is training data
held out to tell variance from data mismatch.
"""

from __future__ import annotations

from typing import Literal, get_args

SplitName = Literal["train", "train_dev", "dev", "test"]
Distribution = Literal["target", "training"]

TRAIN: SplitName = "train"
TRAIN_DEV: SplitName = "train_dev"
DEV: SplitName = "dev"
TEST: SplitName = "test"
#: In the order of the diagnosis: fitted, held out of training, target dev, target test.
SPLITS: tuple[SplitName, ...] = get_args(SplitName)
TARGET_SPLITS: tuple[SplitName, ...] = (TRAIN, DEV, TEST)
TRAINING_SPLITS: tuple[SplitName, ...] = (TRAIN, TRAIN_DEV)

TARGET: Distribution = "target"
TRAINING: Distribution = "training"
DISTRIBUTIONS: tuple[Distribution, ...] = (TARGET, TRAINING)
DISTRIBUTION_SPLITS: dict[Distribution, tuple[SplitName, ...]] = {
    TARGET: TARGET_SPLITS,
    TRAINING: TRAINING_SPLITS,
}

#: How people read a split's name (in reports, tables and the CLI).
SPLIT_DISPLAY_NAMES: dict[SplitName, str] = {
    TRAIN: "train",
    TRAIN_DEV: "train-dev",
    DEV: "dev",
    TEST: "test",
}
