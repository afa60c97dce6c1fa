"""Who writes the demo reviews: per-source profiles, users with habits, the rows they write
(with unique texts and some label noise), and the planted near-duplicates."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TypeVar

from bayesline.demo.records import (
    NEGATIVE,
    POSITIVE,
    SHORT_MAX_WORDS,
    SOURCES,
    TRAINING_SOURCES,
    Row,
    User,
    normalized_text,
)
from bayesline.demo.templates import SIGNATURES
from bayesline.demo.texts import compose_text

_K = TypeVar("_K")


@dataclass(frozen=True)
class Profile:
    """How one source's users and reviews are distributed."""

    channels: dict[str, float]
    categories: dict[str, float]
    lengths: dict[str, float]
    languages: dict[str, float]
    positive_rate: float
    informal_users: float  # share of users who write informally


PROFILES = {
    "web_reviews": Profile(
        channels={"desktop": 0.68, "mobile_web": 0.24, "ios": 0.04, "android": 0.04},
        categories={"electronics": 0.34, "books": 0.3, "home": 0.22, "toys": 0.09, "grocery": 0.05},
        lengths={"short": 0.1, "medium": 0.38, "long": 0.52},
        languages={"en": 0.975, "es": 0.015, "de": 0.01},
        positive_rate=0.5,
        informal_users=0.03,
    ),
    "partner_feed": Profile(
        channels={"desktop": 0.55, "mobile_web": 0.33, "ios": 0.06, "android": 0.06},
        categories={"books": 0.38, "home": 0.28, "electronics": 0.18, "toys": 0.1, "grocery": 0.06},
        lengths={"short": 0.12, "medium": 0.5, "long": 0.38},
        languages={"en": 0.98, "es": 0.01, "de": 0.01},
        positive_rate=0.5,
        informal_users=0.02,
    ),
    "app_reviews": Profile(
        channels={"ios": 0.52, "android": 0.44, "mobile_web": 0.04},
        categories={"grocery": 0.3, "electronics": 0.24, "toys": 0.2, "home": 0.16, "books": 0.1},
        lengths={"short": 0.52, "medium": 0.36, "long": 0.12},
        languages={"en": 0.95, "es": 0.03, "de": 0.02},
        positive_rate=0.4,
        informal_users=0.55,
    ),
}

REVIEWS_PER_USER = {1: 0.2, 2: 0.2, 3: 0.17, 4: 0.13, 5: 0.1, 6: 0.07, 8: 0.06, 12: 0.04, 20: 0.03}
SYNDICATED_SHARE = 0.06  # partner_feed rows written by web_reviews users
NOISE = {  # probability of a flipped label, by how the text was composed
    "plain": 0.012,
    "short": 0.03,
    "negated": 0.03,
    "vague": 0.06,
    "mixed": 0.07,
    "sarcastic": 0.08,
}
FOREIGN_EXTRA_NOISE = 0.06
# Near-duplicate pairs per row of the receiving source: (from, to, rate).
NEAR_DUPLICATES = (
    ("web_reviews", "web_reviews", 0.003),
    ("app_reviews", "app_reviews", 0.003),
    ("web_reviews", "partner_feed", 0.0075),
    ("training", "app_reviews", 0.004),
)


def pick(rng: random.Random, weights: dict[_K, float]) -> _K:
    """One key of `weights`, drawn with the weights as probabilities."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class RowGenerator:
    """Draws rows whose texts are unique after normalisation, from named random streams."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.seen: set[str] = set()  # normalised texts drawn so far

    def rng(self, purpose: str) -> random.Random:
        """The random stream for one purpose: each part of the data has its own, so changing
        one part leaves the others as they were."""
        # Seeding with a str is stable from run to run (it is hashed with sha512, not hash()).
        return random.Random(f"bayesline-demo:{self.seed}:{purpose}")

    def row(
        self,
        rng: random.Random,
        source: str,
        user: User,
        *,
        label: str | None = None,
        length: str | None = None,
        language: str | None = None,
    ) -> Row:
        """A row by `user` that mostly follows the user's habits; the keyword arguments, when
        given, override them."""
        profile = PROFILES[source]
        category = user.category if rng.random() < 0.7 else pick(rng, profile.categories)
        channel = user.channel if rng.random() < 0.85 else pick(rng, profile.channels)
        length = length or (user.length if rng.random() < 0.6 else pick(rng, profile.lengths))
        language = language or user.language
        label = label or (POSITIVE if rng.random() < user.positive_rate else NEGATIVE)
        informal = language == "en" and rng.random() < (0.85 if user.informal else 0.04)
        text, style = self._unique_text(
            rng, language, category, label, length, user.signature, informal
        )
        noise = NOISE[style] + (FOREIGN_EXTRA_NOISE if language != "en" else 0.0)
        flipped = rng.random() < noise
        sentiment = (POSITIVE if label == NEGATIVE else NEGATIVE) if flipped else label
        return Row(source, user, sentiment, text, channel, category, language, label, style)

    def _unique_text(
        self,
        rng: random.Random,
        language: str,
        category: str,
        label: str,
        length: str,
        signature: str | None,
        informal: bool,
    ) -> tuple[str, str]:
        for attempt in range(40):
            if attempt == 20 and length == "short":
                length = "medium"  # a short text space can run out; longer ones never do
            text, style = compose_text(rng, language, category, label, length, signature, informal)
            key = normalized_text(text)
            if key not in self.seen:
                self.seen.add(key)
                return text, style
        raise RuntimeError(  # pragma: no cover - needs tens of thousands of rows
            "could not draw a unique review text; lower the row counts"
        )


# --------------------------------------------------------------------------------------------
# Users and their rows


def draw_population(
    gen: RowGenerator, sizes: dict[str, int]
) -> tuple[dict[str, list[User]], dict[str, list[Row]]]:
    """Per source, its users and `sizes[source]` rows written by them, in random order."""
    users: dict[str, list[User]] = {}
    rows: dict[str, list[Row]] = {}
    for source in SOURCES:
        rng = gen.rng(f"rows:{source}")
        users[source], authors = _draw_authors(rng, source, sizes[source], users)
        rows[source] = [gen.row(rng, source, user) for user in authors]
    _number_users(gen.rng("user-ids"), [user for source in SOURCES for user in users[source]])
    return users, rows


def _new_user(rng: random.Random, profile: Profile) -> User:
    return User(
        category=pick(rng, profile.categories),
        channel=pick(rng, profile.channels),
        length=pick(rng, profile.lengths),
        language=pick(rng, profile.languages),
        informal=rng.random() < profile.informal_users,
        positive_rate=profile.positive_rate + rng.uniform(-0.2, 0.2),
        signature=rng.choice(SIGNATURES) if rng.random() < 0.15 else None,
    )


def _draw_authors(
    rng: random.Random, source: str, size: int, users: dict[str, list[User]]
) -> tuple[list[User], list[User]]:
    """The source's new users, and the author of each of its `size` rows. `users` holds the
    sources drawn before, for the partner feed's syndicated web reviews."""
    own: list[User] = []
    authors: list[User] = []
    while len(authors) < size:
        user = _new_user(rng, PROFILES[source])
        own.append(user)
        authors += [user] * pick(rng, REVIEWS_PER_USER)
    del authors[size:]
    if source == "partner_feed":
        for i in rng.sample(range(len(authors)), round(SYNDICATED_SHARE * len(authors))):
            authors[i] = rng.choice(users["web_reviews"])
    rng.shuffle(authors)
    return own, authors


def _number_users(rng: random.Random, everyone: list[User]) -> None:
    """Give the users ids in random order, so an id says nothing about the source."""
    numbers = list(range(1, len(everyone) + 1))
    rng.shuffle(numbers)
    for user, number in zip(everyone, numbers, strict=True):
        user.user_id = f"u{number:04d}"


# --------------------------------------------------------------------------------------------
# Near-duplicates


def plant_near_duplicates(rng: random.Random, rows: dict[str, list[Row]]) -> list[tuple[Row, Row]]:
    """Overwrite some rows with variants of others' texts; return the (original, copy) pairs."""
    pairs = []
    for origin, destination, rate in NEAR_DUPLICATES:
        sources = TRAINING_SOURCES if origin == "training" else (origin,)
        originals = [row for source in sources for row in rows[source]]
        for _ in range(max(2, round(rate * len(rows[destination])))):
            original, copy = _draw_pair(rng, originals, rows[destination])
            _copy_over(rng, original, copy, same_source=origin == destination)
            pairs.append((original, copy))
    return pairs


def _draw_pair(rng: random.Random, originals: list[Row], copies: list[Row]) -> tuple[Row, Row]:
    """Two different rows not yet in a pair, the original with a distinctive (not short) text."""
    while True:
        original, copy = rng.choice(originals), rng.choice(copies)
        if original is copy or original.in_pair or copy.in_pair:
            continue
        if len(original.text.split()) > SHORT_MAX_WORDS:
            return original, copy


def _copy_over(rng: random.Random, original: Row, copy: Row, *, same_source: bool) -> None:
    original.in_pair = copy.in_pair = True
    copy.text = _near_duplicate_text(rng, original.text)
    copy.sentiment, copy.true_sentiment = original.sentiment, original.true_sentiment
    copy.category, copy.language, copy.style = original.category, original.language, original.style
    if same_source and rng.random() < 0.5:  # the same user posting twice
        copy.user, copy.channel = original.user, original.channel


def _near_duplicate_text(rng: random.Random, text: str) -> str:
    """The same text with different case, punctuation or whitespace (same normalised text)."""
    edits = (
        str.lower,
        lambda t: t.upper() if t.isascii() else t.lower(),
        lambda t: t.rstrip(".!") + rng.choice(("!!", "!!!", "...")),
        lambda t: t.rstrip(".!"),
        lambda t: t.replace(", ", " "),
        lambda t: t.replace(". ", ".  "),
        lambda t: t.replace(". ", "! "),
        lambda t: "  ".join(t.split()),
        lambda t: t + "  ",
    )
    variant = text
    while variant == text:
        for edit in rng.sample(edits, rng.randint(1, 3)):
            variant = edit(variant)
    return variant
