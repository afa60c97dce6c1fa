"""The columns, labels and sources of the demo data, and the rows the generator builds."""

from __future__ import annotations

import re
from dataclasses import dataclass

COLUMNS = (
    "review_id",
    "user_id",
    "sentiment",
    "text",
    "channel",
    "product_category",
    "length_bucket",
    "language",
)
NEGATIVE, POSITIVE = "negative", "positive"
TARGET_SOURCE = "app_reviews"
TRAINING_SOURCES = ("web_reviews", "partner_feed")
SOURCES = (*TRAINING_SOURCES, TARGET_SOURCE)
SHORT_MAX_WORDS = 12  # length_bucket: short <= 12 words < medium <= 40 words < long
MEDIUM_MAX_WORDS = 40


def length_bucket(text: str) -> str:
    """The length_bucket of a text, from its number of whitespace-separated words."""
    words = len(text.split())
    if words <= SHORT_MAX_WORDS:
        return "short"
    return "medium" if words <= MEDIUM_MAX_WORDS else "long"


def normalized_text(text: str) -> str:
    """Lower case with every run of non-alphanumerics as one space: the warehouse's dedup
    normalisation, under which a near-duplicate equals its original."""
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


# eq=False: users and rows are told apart by identity (`is`, `in`, `list.index`), never by
# their fields.


@dataclass(eq=False)
class User:
    """A reviewer's habits; most of the user's reviews follow them."""

    category: str
    channel: str
    length: str
    language: str
    informal: bool
    positive_rate: float
    signature: str | None
    user_id: str = ""  # numbered once every source's users are drawn


@dataclass(eq=False)
class Row:
    """One row of a landing file, well-formed or planted (`kind` set)."""

    source: str
    user: User
    sentiment: str | None
    text: str
    channel: str
    category: str
    language: str
    true_sentiment: str  # the label before noise
    style: str  # how the text was composed
    review_id: str = ""  # assigned once the rows are in their files
    kind: str | None = None  # a malformed kind when planted
    flavour: str = ""  # the variant of a malformed kind, e.g. the wrong encoding
    duplicate_of: Row | None = None  # the row whose review_id a planted duplicate reuses
    in_pair: bool = False  # already part of a near-duplicate pair

    def values(self) -> list[str | None]:
        """The values of COLUMNS, in order."""
        return [
            self.review_id,
            self.user.user_id,
            self.sentiment,
            self.text,
            self.channel,
            self.category,
            length_bucket(self.text),
            self.language,
        ]
