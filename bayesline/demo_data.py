"""Generate the bundled demo dataset: product reviews from two distributions, as landing files.

The data is built to give every stage of the platform something to show:

- Two distributions. The training sources (`web_reviews`, `partner_feed`) are mostly long,
  desktop-written reviews of electronics and books with a 50/50 label mix. The target source
  (`app_reviews`, the product's own app) is shorter, written on ios/android, more informal,
  leans towards grocery and toys, and is 60% negative.
- Slices of varying difficulty: plain reviews are easy; short and vague texts, negations,
  mixed-sentiment reviews, sarcasm (mostly in electronics) and the rare Spanish and German
  reviews are hard, and carry more label noise (about 3% of all labels are flipped).
- Groups: every user writes several reviews that share the user's habits (favourite category,
  device, verbosity, mood, sign-off), so leaking a user across splits would flatter a model.
- Near-duplicates: a few texts reappear with different case, punctuation or whitespace, in
  the same source and across sources (also from the training to the target distribution).
  Apart from those, no two texts are equal after normalisation (lower case, runs of
  non-alphanumerics collapsed), so duplicate detection only links what was planted.
- A few malformed rows, planted on purpose and listed in the summary (file, line, kind).

The output is a pure function of the seed and the sizes: every run writes identical bytes to
the same file names, and a file whose bytes are already right is left untouched.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

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
LABELS = (NEGATIVE, POSITIVE)
TARGET_SOURCE = "app_reviews"
TRAINING_SOURCES = ("web_reviews", "partner_feed")
SOURCES = (*TRAINING_SOURCES, TARGET_SOURCE)
CATEGORIES = ("electronics", "books", "home", "grocery", "toys")
CHANNELS = ("desktop", "mobile_web", "ios", "android")
LANGUAGES = ("en", "es", "de")
SHORT_MAX_WORDS = 12  # length_bucket: short <= 12 words < medium <= 40 words < long
MEDIUM_MAX_WORDS = 40
MIN_TRAINING_ROWS = 400  # below these sizes the planted rows would dominate some files
MIN_TARGET_ROWS = 200

_K = TypeVar("_K")

MALFORMED_KINDS = (
    "extra_field",  # a CSV/TSV line with one field too many
    "missing_field",  # a CSV/TSV line with one field too few
    "invalid_utf8",  # a CSV line in Latin-1 or Windows-1252 instead of UTF-8
    "invalid_json",  # a JSONL line that is not a JSON object
    "missing_label",  # empty (or, in Parquet, null) sentiment
    "unknown_label",  # a sentiment outside the label set
    "empty_text",  # an empty review text
    "duplicate_id_within_file",  # a review_id reused with different content in its file
    "duplicate_id_across_files",  # a review_id reused with different content in a later file
)


# --------------------------------------------------------------------------------------------
# Public results


@dataclass(frozen=True)
class PlantedRow:
    """One deliberately malformed row. `line` is the physical line in a CSV/TSV file (the
    header is line 1), the line in a JSONL file, or the 1-based row number in a Parquet file.
    For a duplicate id, the planted row is the later occurrence; a warehouse that refuses both
    versions of an id repeated within one file also rejects the earlier one."""

    path: str  # relative to the landing directory, e.g. "web_reviews/web-2024-01.csv"
    line: int
    kind: str
    review_id: str


@dataclass(frozen=True)
class DemoDataSummary:
    """What `generate_demo_data` wrote. Treat the dicts as read-only."""

    landing_dir: Path
    files: tuple[Path, ...]  # every file the generator owns, in a stable order
    rows_written: dict[str, int]  # source -> data rows or lines written, malformed included
    rows_per_file: dict[str, int]  # relative path -> data rows or lines written
    malformed: dict[str, int]  # kind -> planted rows (every kind of MALFORMED_KINDS)
    planted: tuple[PlantedRow, ...]
    labels_flipped: dict[str, int]  # source -> valid rows whose label was flipped (noise)
    near_duplicates: tuple[tuple[str, str], ...]  # (review_id, review_id of its variant)
    files_changed: tuple[Path, ...] = ()  # files whose bytes this run (re)wrote

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    @property
    def valid_rows(self) -> dict[str, int]:
        """Rows per source that are not planted malformed rows."""
        planted = Counter(row.path.split("/", 1)[0] for row in self.planted)
        return {source: n - planted[source] for source, n in self.rows_written.items()}

    def describe(self) -> str:
        lines = [f"Demo data under {self.landing_dir} ({len(self.files_changed)} files changed):"]
        planted_per_file = Counter(row.path for row in self.planted)
        for relpath, rows in self.rows_per_file.items():
            lines.append(
                f"  {relpath:<40} {rows:>6,} rows  {planted_per_file[relpath]:>2} malformed"
            )
        lines.append(
            "Rows per source: "
            + ", ".join(f"{source} {n:,}" for source, n in self.rows_written.items())
        )
        lines.append(
            f"Malformed rows planted ({self.malformed_total}): "
            + ", ".join(f"{kind} {n}" for kind, n in self.malformed.items())
        )
        lines.append(
            "Labels flipped (noise): "
            + ", ".join(f"{source} {n}" for source, n in self.labels_flipped.items())
        )
        lines.append(f"Near-duplicate pairs: {len(self.near_duplicates)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class DemoExample:
    """One well-formed generated row with what the generator knows about it."""

    values: dict[str, str]  # the COLUMNS as written
    source: str
    path: str  # relative file path
    true_sentiment: str  # the label before noise
    style: str  # plain, negated, mixed, sarcastic, short, vague (how the text was composed)

    @property
    def label_flipped(self) -> bool:
        return self.values["sentiment"] != self.true_sentiment


# --------------------------------------------------------------------------------------------
# Sources, files and the planted malformed rows


@dataclass(frozen=True)
class _FileSpec:
    source: str
    name: str
    share: float  # of the source's well-formed rows

    @property
    def relpath(self) -> str:
        return f"{self.source}/{self.name}"

    @property
    def fmt(self) -> str:
        return self.name.rsplit(".", 1)[1]


FILES = (
    _FileSpec("web_reviews", "web-2024-01.csv", 0.24),
    _FileSpec("web_reviews", "web-2024-02.csv", 0.26),
    _FileSpec("web_reviews", "web-2024-03.csv", 0.27),
    _FileSpec("web_reviews", "web-2024-04.tsv", 0.23),
    _FileSpec("partner_feed", "partner-2024-q1.parquet", 1.0),
    _FileSpec("app_reviews", "app-2024-03.jsonl", 0.45),
    _FileSpec("app_reviews", "app-2024-04.jsonl", 0.55),
)

# (file, kind, flavour); a duplicate across files names the earlier file as its flavour.
_PLANTS = (
    ("web_reviews/web-2024-01.csv", "extra_field", "unquoted comma"),
    ("web_reviews/web-2024-01.csv", "invalid_utf8", "latin-1"),
    ("web_reviews/web-2024-01.csv", "missing_label", ""),
    ("web_reviews/web-2024-01.csv", "duplicate_id_within_file", ""),
    ("web_reviews/web-2024-02.csv", "missing_field", ""),
    ("web_reviews/web-2024-02.csv", "unknown_label", "neutral"),
    ("web_reviews/web-2024-02.csv", "duplicate_id_across_files", "web_reviews/web-2024-01.csv"),
    ("web_reviews/web-2024-03.csv", "invalid_utf8", "cp1252"),
    ("web_reviews/web-2024-03.csv", "empty_text", ""),
    ("web_reviews/web-2024-04.tsv", "extra_field", "tab"),
    ("web_reviews/web-2024-04.tsv", "missing_field", ""),
    ("partner_feed/partner-2024-q1.parquet", "missing_label", "null"),
    ("partner_feed/partner-2024-q1.parquet", "empty_text", ""),
    ("app_reviews/app-2024-03.jsonl", "invalid_json", "truncated"),
    ("app_reviews/app-2024-03.jsonl", "unknown_label", "5 stars"),
    ("app_reviews/app-2024-03.jsonl", "duplicate_id_within_file", ""),
    ("app_reviews/app-2024-04.jsonl", "invalid_json", "python repr"),
    ("app_reviews/app-2024-04.jsonl", "missing_label", ""),
    ("app_reviews/app-2024-04.jsonl", "duplicate_id_across_files", "app_reviews/app-2024-03.jsonl"),
)

_ID_PREFIX = {"web_reviews": "web", "partner_feed": "pf", "app_reviews": "app"}


@dataclass(frozen=True)
class _Profile:
    """How one source's users and reviews are distributed."""

    channels: dict[str, float]
    categories: dict[str, float]
    lengths: dict[str, float]
    languages: dict[str, float]
    positive_rate: float
    informal_users: float  # share of users who write informally


_PROFILES = {
    "web_reviews": _Profile(
        channels={"desktop": 0.68, "mobile_web": 0.24, "ios": 0.04, "android": 0.04},
        categories={"electronics": 0.34, "books": 0.3, "home": 0.22, "toys": 0.09, "grocery": 0.05},
        lengths={"short": 0.1, "medium": 0.38, "long": 0.52},
        languages={"en": 0.975, "es": 0.015, "de": 0.01},
        positive_rate=0.5,
        informal_users=0.03,
    ),
    "partner_feed": _Profile(
        channels={"desktop": 0.55, "mobile_web": 0.33, "ios": 0.06, "android": 0.06},
        categories={"books": 0.38, "home": 0.28, "electronics": 0.18, "toys": 0.1, "grocery": 0.06},
        lengths={"short": 0.12, "medium": 0.5, "long": 0.38},
        languages={"en": 0.98, "es": 0.01, "de": 0.01},
        positive_rate=0.5,
        informal_users=0.02,
    ),
    "app_reviews": _Profile(
        channels={"ios": 0.52, "android": 0.44, "mobile_web": 0.04},
        categories={"grocery": 0.3, "electronics": 0.24, "toys": 0.2, "home": 0.16, "books": 0.1},
        lengths={"short": 0.52, "medium": 0.36, "long": 0.12},
        languages={"en": 0.95, "es": 0.03, "de": 0.02},
        positive_rate=0.4,
        informal_users=0.55,
    ),
}

_REVIEWS_PER_USER = {1: 0.2, 2: 0.2, 3: 0.17, 4: 0.13, 5: 0.1, 6: 0.07, 8: 0.06, 12: 0.04, 20: 0.03}
_SYNDICATED_SHARE = 0.06  # partner_feed rows written by web_reviews users
_NOISE = {  # probability of a flipped label, by how the text was composed
    "plain": 0.012,
    "short": 0.03,
    "negated": 0.03,
    "vague": 0.06,
    "mixed": 0.07,
    "sarcastic": 0.08,
}
_FOREIGN_EXTRA_NOISE = 0.06
# Electronics is the hard category: sarcasm, mixed feelings and vague short texts cluster there.
_SARCASM = {"electronics": 0.35, "books": 0.03, "home": 0.03, "grocery": 0.02, "toys": 0.03}
_MIXED = {"electronics": 0.3, "books": 0.15, "home": 0.12, "grocery": 0.1, "toys": 0.12}
_VAGUE = {"electronics": 0.45, "books": 0.25, "home": 0.25, "grocery": 0.2, "toys": 0.25}
# Near-duplicate pairs per row of the receiving source: (from, to, rate).
_NEAR_DUPLICATES = (
    ("web_reviews", "web_reviews", 0.003),
    ("app_reviews", "app_reviews", 0.003),
    ("web_reviews", "partner_feed", 0.0075),
    ("training", "app_reviews", 0.004),
)

# --------------------------------------------------------------------------------------------
# Vocabulary: English


@dataclass(frozen=True)
class _Vocab:
    products: tuple[str, ...]
    contexts: tuple[str, ...]
    good: tuple[str, ...]  # clauses, lower case, no final full stop
    bad: tuple[str, ...]


_VOCAB = {
    # Every aspect must fit every product of its category.
    "electronics": _Vocab(
        products=(
            "pair of headphones",
            "pair of earbuds",
            "bluetooth speaker",
            "gaming headset",
            "portable speaker",
            "pair of sports earbuds",
            "noise-cancelling headset",
        ),
        contexts=(
            "for my commute",
            "for working from home",
            "to replace my old one",
            "for gaming",
            "for the gym",
        ),
        good=(
            "the battery lasts all day",
            "the sound is crisp and clear",
            "pairing took seconds",
            "the build feels solid",
            "it charges really fast",
            "setup was painless",
            "the range is impressive",
            "the controls are intuitive",
        ),
        bad=(
            "the battery dies within two hours",
            "the sound crackles at high volume",
            "it keeps dropping the connection",
            "the casing cracked within a week",
            "it gets hot while charging",
            "the buttons stopped responding",
            "the companion app crashes constantly",
            "the charging cable is way too short",
        ),
    ),
    "books": _Vocab(
        products=(
            "novel",
            "biography",
            "paperback",
            "thriller",
            "memoir",
            "fantasy novel",
            "crime novel",
            "short story collection",
        ),
        contexts=(
            "for my book club",
            "for a long flight",
            "as a birthday present",
            "after a friend recommended it",
            "for the holidays",
        ),
        good=(
            "the plot kept me hooked",
            "the characters feel real",
            "the writing is beautiful",
            "the print quality is lovely",
            "I finished it in two evenings",
            "the pacing is just right",
            "the ending was satisfying",
            "the cover is gorgeous",
        ),
        bad=(
            "the plot drags in the middle",
            "the characters are flat",
            "the writing is clumsy",
            "several pages were missing",
            "the binding fell apart",
            "the pacing is painfully slow",
            "the ending made no sense",
            "the print is tiny and blurry",
        ),
    ),
    "home": _Vocab(
        products=(
            "blender",
            "kettle",
            "toaster",
            "coffee maker",
            "food processor",
            "hand mixer",
            "rice cooker",
            "waffle maker",
        ),
        contexts=(
            "for our new apartment",
            "to replace my old one",
            "for my parents",
            "as a housewarming gift",
            "for the office kitchen",
        ),
        good=(
            "it is easy to clean",
            "it works exactly as described",
            "it looks great on the counter",
            "it is nice and quiet",
            "it feels sturdy",
            "setup took five minutes",
            "it heats up quickly",
            "the controls are simple",
        ),
        bad=(
            "it is a pain to clean",
            "it stopped working after a month",
            "it feels flimsy",
            "it is incredibly loud",
            "the handle came loose",
            "the instructions were useless",
            "it leaks from the bottom",
            "the plastic smells odd",
        ),
    ),
    "grocery": _Vocab(
        products=(
            "bag of coffee beans",
            "granola",
            "box of protein bars",
            "dark chocolate",
            "honey",
            "box of cookies",
            "jar of peanut butter",
            "trail mix",
        ),
        contexts=(
            "for the office",
            "as part of my weekly shop",
            "to try something new",
            "for a road trip",
            "on a subscription",
        ),
        good=(
            "it tastes fresh",
            "the flavor is rich",
            "the packaging kept everything intact",
            "it is great value for the price",
            "the texture is perfect",
            "it arrived well before the best-before date",
            "the aroma is amazing",
            "it is not too sweet",
        ),
        bad=(
            "it tasted stale",
            "the flavor is bland",
            "the package arrived torn",
            "it is overpriced for the amount",
            "the texture is gritty",
            "it was close to the expiry date",
            "it smells off",
            "it tastes way too artificial",
        ),
    ),
    "toys": _Vocab(
        products=(
            "board game",
            "jigsaw puzzle",
            "lego set",
            "card game",
            "set of building blocks",
            "marble run",
            "wooden train set",
            "craft kit",
        ),
        contexts=(
            "for my nephew",
            "for my daughter's birthday",
            "for a rainy weekend",
            "for the kids",
            "for our family game night",
        ),
        good=(
            "my kids love it",
            "the pieces fit together nicely",
            "it survived a lot of rough play",
            "it kept them busy for hours",
            "the colors are bright",
            "the instructions are clear",
            "it is great for the price",
            "it is safe for toddlers",
        ),
        bad=(
            "pieces were missing",
            "it broke within a day",
            "the paint chips easily",
            "my kids lost interest in minutes",
            "the box arrived crushed",
            "the instructions are confusing",
            "it has sharp edges",
            "it is much smaller than pictured",
        ),
    ),
}

_OPENINGS = (
    "Bought this {p} {c}.",
    "I got the {p} {c}.",
    "Ordered the {p} {c}.",
    "Picked up this {p} {c}.",
)
_INTENSIFIERS = ("", "", "really", "very", "absolutely", "incredibly", "super", "pretty")
_GOOD_ADJECTIVES = ("great", "excellent", "fantastic", "solid", "lovely", "reliable", "good")
_BAD_ADJECTIVES = ("terrible", "awful", "disappointing", "poor", "useless", "flimsy", "bad")
_HEADLINES = {
    POSITIVE: (
        "{i} {a} {p}.",
        "This {p} is {i} {a}.",
        "I love this {p}.",
        "The {p} turned out {i} {a}.",
        "{a} {p}, exactly what I needed.",
    ),
    NEGATIVE: (
        "{i} {a} {p}.",
        "This {p} is {i} {a}.",
        "I regret buying this {p}.",
        "The {p} turned out {i} {a}.",
        "{a} {p}, nothing like the photos.",
    ),
}
_NEGATED_HEADLINES = {
    POSITIVE: (
        "Not bad at all.",
        "Honestly, I can't complain about this {p}.",
        "No complaints so far.",
        "I was not disappointed.",
        "Didn't expect much, but it's not bad.",
    ),
    NEGATIVE: (
        "Not great.",
        "This {p} is not worth the money.",
        "Would not recommend this {p}.",
        "Not as good as the reviews say.",
        "I really wanted to like it, but no.",
    ),
}
_ASPECT_FORMS = {
    POSITIVE: ("{A}.", "Also, {a}.", "{A}, which is great.", "I was happy that {a}."),
    NEGATIVE: ("{A}.", "Also, {a}.", "{A}, which is annoying.", "Sadly, {a}."),
}
_VERDICTS = {
    POSITIVE: (
        "Would buy again.",
        "Highly recommend.",
        "Five stars.",
        "Definitely worth the price.",
        "Happy with the purchase.",
        "Great value overall.",
    ),
    NEGATIVE: (
        "Returning it.",
        "Save your money.",
        "Would not buy again.",
        "One star.",
        "Asked for a refund.",
        "Avoid.",
    ),
}
_NEGATED_VERDICTS = {
    POSITIVE: (
        "No regrets.",
        "Can't complain.",
        "Never had a single issue.",
        "Not disappointed at all.",
        "Nothing bad to say.",
    ),
    NEGATIVE: (
        "Wouldn't recommend it.",
        "Not worth it.",
        "Can't recommend this.",
        "Not great, honestly.",
        "Not happy with it.",
    ),
}
_MIXED_VERDICTS = {
    POSITIVE: (
        "Overall I'm keeping it.",
        "On balance it's worth it.",
        "Still, I'd probably buy it again.",
        "The good outweighs the bad.",
    ),
    NEGATIVE: (
        "In the end it went back.",
        "On balance it's not worth it.",
        "Not enough to make up for it.",
        "The bad outweighs the good.",
    ),
}
_SARCASTIC_HEADLINES = (
    "Oh great, {bad}. Just what I needed.",
    "Just perfect: {bad}.",
    "Love how {bad}. Truly amazing.",
    "Five stars for the box, zero for the {p}.",
    'Wow, a "premium" {p} and {bad}. Impressive.',
    "Exactly what I wanted: {bad}.",
    "Best purchase ever, if you enjoy the fact that {bad}.",
    "Oh wonderful, another {p} for the junk drawer.",
    "Absolutely amazing {p}. For about a week.",
    "What a fantastic way to spend money.",
    "Perfect gift for someone you dislike.",
    "Great {p}, if you like surprises.",
    "Truly the best {p} I have ever returned.",
)
_SARCASTIC_ASPECTS = ("Love how {a}.", "Brilliant, {a}.", "And of course {a}. Wonderful.")
_SARCASTIC_VERDICTS = (
    "Would totally buy again. Not.",
    "Ten out of ten, would be disappointed again.",
    "Great job, really.",
    "Thanks a lot.",
    'A real "bargain".',
)
_FILLERS = (
    "It arrived on a Tuesday.",
    "I ordered the blue one.",
    "The packaging was standard.",
    "I've used it for about two weeks now.",
    "Shipping took four days.",
    "My partner picked it out.",
    "It came in a plain brown box.",
    "I compared a few options before ordering.",
    "Bought it during a sale.",
    "This is my second order from this seller.",
)
_SIGNATURES = (
    "Just my two cents.",
    "Hope this helps!",
    "Cheers, M.",
    "Happy shopping!",
    "Will update if anything changes.",
    "That's all, folks.",
)
_SHORT_CORES = {
    POSITIVE: (
        "Love it",
        "Love this {p}",
        "Great {p}",
        "Works perfectly",
        "Really good value",
        "Exactly as described",
        "Super happy with this {p}",
        "Does the job well",
        "Best {p} I've owned",
        "Excellent quality",
        "Very pleased with the {p}",
        "Solid {p}",
        "Fantastic {p}",
        "Would buy this {p} again",
    ),
    NEGATIVE: (
        "Broke in a week",
        "Waste of money",
        "Terrible {p}",
        "Doesn't work",
        "Very disappointed",
        "Returned the {p}",
        "Cheap and flimsy",
        "Stopped working already",
        "Worst {p} ever",
        "Poor quality {p}",
        "Awful {p}",
        "Regret buying this {p}",
        "Useless {p}",
        "The {p} fell apart",
    ),
}
_SHORT_NEGATED = {
    POSITIVE: (
        "Not bad at all",
        "Can't complain about this {p}",
        "No complaints",
        "Not disappointed",
        "Nothing wrong with the {p}",
    ),
    NEGATIVE: (
        "Not great",
        "Not worth it",
        "Wouldn't recommend this {p}",
        "Not happy with the {p}",
        "Not as described",
    ),
}
_SHORT_VAGUE = (
    "It's ok",
    "The {p} is fine I guess",
    "Meh",
    "Could be better",
    "As expected",
    "It works, kind of",
    "Okay for the price",
    "Not sure about this {p} yet",
    "It is what it is",
    "Does what it says, mostly",
    "Average {p}",
    "Mixed feelings about this {p}",
)
_SHORT_SARCASTIC = (
    "Oh great, dead already",
    "Wow, broke on day one. Amazing",
    "Love paying for junk",
    "Perfect, if you like things that don't work",
    "Brilliant, another {p} for the bin",
)
_SHORT_TAILS = (
    "",
    "",
    ", bought it on sale",
    ", got it for my mom",
    ", ordered last week",
    ", delivery was quick",
    ", came well packed",
    ", second order from this shop",
    ", used it for a month",
    ", my partner picked it",
    ", arrived on time",
    ", bought it as a gift",
    ", the blue version",
    " for the price",
    ", ordered two",
    ", arrived Monday",
)
_INFORMAL_SWAPS = tuple(
    (re.compile(rf"\b{re.escape(a)}\b"), b)
    for a, b in (
        ("really", "rly"),
        ("definitely", "def"),
        ("because", "cuz"),
        ("you", "u"),
        ("though", "tho"),
        ("very", "sooo"),
        ("it's", "its"),
        ("don't", "dont"),
        ("I'm", "im"),
        ("can't", "cant"),
        ("and", "n"),
    )
)
_SLANG = {
    POSITIVE: ("this slaps", "legit love it", "10/10", "obsessed", "no notes", "lowkey amazing"),
    NEGATIVE: ("total trash", "pretty mid tbh", "kinda scammy", "0/10", "dont bother", "big nope"),
}
_SLANG_SHORT = {
    POSITIVE: (
        "lowkey obsessed w this {p}",
        "this {p} slaps",
        "{p} is fire ngl",
        "absolute banger of a {p}",
        "goated {p} fr",
        "no notes, {p} is elite",
        "vibes r immaculate",
    ),
    NEGATIVE: (
        "{p} is straight trash",
        "mid {p} tbh",
        "this {p} is a scam fr",
        "{p} flopped hard",
        "big L, {p} died",
        "hard pass on this {p}",
        "yikes. just yikes",
    ),
}
_INFORMAL_OPENERS = ("tbh", "ngl", "honestly", "ok so", "lol", "idk")

# --------------------------------------------------------------------------------------------
# Vocabulary: Spanish and German (few rows, few templates: hard for a model)

_FOREIGN = {
    "es": {
        "products": {
            "electronics": ("unos auriculares", "unos cascos", "un altavoz bluetooth"),
            "books": ("un libro", "una novela", "una biografía"),
            "home": ("una batidora", "un hervidor", "una tostadora", "una cafetera"),
            "grocery": ("café en grano", "miel", "chocolate negro", "galletas"),
            "toys": ("un puzle", "un juego de mesa", "un set de construcción"),
        },
        "contexts": (
            "Compré {p} hace dos semanas.",
            "Pedí {p} para regalar.",
            "Es la segunda vez que compro {p}.",
            "Compré {p} en oferta.",
        ),
        POSITIVE: (
            "Me encanta.",
            "Muy buena calidad.",
            "Cumple lo que promete.",
            "Llegó rápido y en buen estado.",
            "Excelente relación calidad-precio.",
            "Estoy muy contento.",
        ),
        NEGATIVE: (
            "Muy mala calidad.",
            "No es lo que esperaba.",
            "Una decepción total.",
            "Llegó dañado.",
            "Pésima relación calidad-precio.",
            "No sirve para nada.",
        ),
        "negated": {
            POSITIVE: ("No me arrepiento de la compra.", "No está nada mal.", "No tiene defectos."),
            NEGATIVE: ("No lo recomiendo.", "No es como en la foto.", "No vale lo que cuesta."),
        },
        "verdicts": {
            POSITIVE: ("Lo volvería a comprar.", "Cinco estrellas.", "Totalmente recomendable."),
            NEGATIVE: ("No lo volvería a comprar.", "Lo he devuelto.", "Una estrella."),
        },
        "vague": ("Normal.", "Está bien.", "Regular.", "Ni fu ni fa."),
        "fillers": (
            "El envío tardó tres días.",
            "Venía en una caja normal.",
            "Lo uso desde hace un mes.",
        ),
    },
    "de": {
        "products": {
            "electronics": ("einen Kopfhörer", "Ohrhörer", "einen Bluetooth-Lautsprecher"),
            "books": ("ein Buch", "einen Roman", "eine Biografie"),
            "home": ("einen Mixer", "einen Wasserkocher", "einen Toaster", "eine Kaffeemaschine"),
            "grocery": ("Kaffeebohnen", "Honig", "dunkle Schokolade", "Kekse"),
            "toys": ("ein Puzzle", "ein Brettspiel", "einen Baukasten"),
        },
        "contexts": (
            "Habe {p} vor zwei Wochen gekauft.",
            "Ich habe {p} als Geschenk bestellt.",
            "Zum zweiten Mal {p} bestellt.",
            "Habe {p} im Angebot gekauft.",
        ),
        POSITIVE: (
            "Sehr gut.",
            "Super Qualität.",
            "Hält, was es verspricht.",
            "Schnelle Lieferung, alles bestens.",
            "Klare Kaufempfehlung.",
            "Bin sehr zufrieden.",
        ),
        NEGATIVE: (
            "Leider schlechte Qualität.",
            "Entspricht nicht der Beschreibung.",
            "Total enttäuscht.",
            "Kam beschädigt an.",
            "Viel zu teuer für das, was man bekommt.",
            "Taugt nichts.",
        ),
        "negated": {
            POSITIVE: ("Nicht schlecht.", "Kann mich nicht beklagen.", "Keine Probleme bisher."),
            NEGATIVE: (
                "Nicht zu empfehlen.",
                "Nicht wie beschrieben.",
                "Nicht das Geld wert.",
            ),
        },
        "verdicts": {
            POSITIVE: ("Würde ich wieder kaufen.", "Fünf Sterne.", "Absolut empfehlenswert."),
            NEGATIVE: ("Würde ich nicht wieder kaufen.", "Geht zurück.", "Ein Stern."),
        },
        "vague": ("Geht so.", "Ganz okay.", "Naja.", "Durchschnittlich."),
        "fillers": (
            "Die Lieferung dauerte drei Tage.",
            "Kam in einem normalen Karton.",
            "Ich benutze es seit einem Monat.",
        ),
    },
}

# --------------------------------------------------------------------------------------------
# Generation


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


@dataclass(eq=False)
class _User:
    category: str
    channel: str
    length: str
    language: str
    informal: bool
    positive_rate: float
    signature: str | None
    user_id: str = ""


@dataclass(eq=False)
class _Row:
    source: str
    user: _User
    sentiment: str | None
    text: str
    channel: str
    category: str
    language: str
    true_sentiment: str
    style: str
    review_id: str = ""
    kind: str | None = None  # a malformed kind when planted
    flavour: str = ""
    duplicate_of: _Row | None = None
    in_pair: bool = False

    def values(self) -> list[str | None]:
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


def _pick(rng: random.Random, weights: dict[_K, float]) -> _K:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _tidy(text: str) -> str:
    return " ".join(text.split())


def _new_user(rng: random.Random, profile: _Profile) -> _User:
    return _User(
        category=_pick(rng, profile.categories),
        channel=_pick(rng, profile.channels),
        length=_pick(rng, profile.lengths),
        language=_pick(rng, profile.languages),
        informal=rng.random() < profile.informal_users,
        positive_rate=profile.positive_rate + rng.uniform(-0.2, 0.2),
        signature=rng.choice(_SIGNATURES) if rng.random() < 0.15 else None,
    )


def _short_english(rng: random.Random, category: str, label: str, product: str, informal: bool):
    roll = rng.random()
    if informal and rng.random() < 0.5:  # slang the training sources hardly ever use
        style, core = "short", rng.choice(_SLANG_SHORT[label])
    elif label == NEGATIVE and rng.random() < _SARCASM[category] * 0.6:
        style, core = "sarcastic", rng.choice(_SHORT_SARCASTIC)
    elif roll < _VAGUE[category]:
        style, core = "vague", rng.choice(_SHORT_VAGUE)
    elif roll < _VAGUE[category] + 0.15:
        style, core = "short", rng.choice(_SHORT_NEGATED[label])
    else:
        style, core = "short", rng.choice(_SHORT_CORES[label])
    end = rng.choice((".", ".", "!", ""))
    return _tidy(core.format(p=product) + rng.choice(_SHORT_TAILS) + end), style


def _english(
    rng: random.Random, category: str, label: str, length: str, user: _User, informal: bool
):
    vocab = _VOCAB[category]
    product = rng.choice(vocab.products)
    if length == "short":
        return _short_english(rng, category, label, product, informal)
    if label == NEGATIVE and rng.random() < _SARCASM[category]:
        style = "sarcastic"
    else:
        roll = rng.random()
        style = "negated" if roll < 0.2 else "mixed" if roll < 0.2 + _MIXED[category] else "plain"
    own, other = (vocab.good, vocab.bad) if label == POSITIVE else (vocab.bad, vocab.good)
    n_aspects = rng.randint(1, 2) if length == "medium" else rng.randint(3, 5)
    if style == "mixed":
        n_aspects = min(n_aspects, 3)
    # good[i] and bad[i] talk about the same thing, so a mixed review draws distinct indices
    picked = rng.sample(range(len(own)), 2 * n_aspects if style == "mixed" else n_aspects)
    aspects = [own[i] for i in picked[:n_aspects]]

    def headline(polarity: str) -> str:
        adjectives = _GOOD_ADJECTIVES if polarity == POSITIVE else _BAD_ADJECTIVES
        template = rng.choice(_HEADLINES[polarity])
        return _cap(
            _tidy(template.format(i=rng.choice(_INTENSIFIERS), a=rng.choice(adjectives), p=product))
        )

    def aspect(clause: str, polarity: str) -> str:
        return rng.choice(_ASPECT_FORMS[polarity]).format(a=clause, A=_cap(clause))

    sentences = []
    if length == "long" or rng.random() < 0.35:
        opening = rng.choice(_OPENINGS)
        sentences.append(opening.format(p=product, c=rng.choice(vocab.contexts)))
    if style == "plain":
        sentences.append(headline(label))
        sentences += [aspect(a, label) for a in aspects]
        sentences.append(rng.choice(_VERDICTS[label]))
    elif style == "negated":
        sentences.append(rng.choice(_NEGATED_HEADLINES[label]).format(p=product))
        sentences += [aspect(a, label) for a in aspects]
        verdicts = _NEGATED_VERDICTS if rng.random() < 0.6 else _VERDICTS
        sentences.append(rng.choice(verdicts[label]))
    elif style == "mixed":
        contrary = [other[i] for i in picked[n_aspects:]]
        for mine, theirs in zip(aspects, contrary, strict=True):
            first, last = (theirs, mine) if rng.random() < 0.7 else (mine, theirs)
            sentences.append(f"{_cap(first)}, but {last}.")
        sentences.append(rng.choice(_MIXED_VERDICTS[label]))
    else:
        bad = rng.choice(vocab.bad)
        template = rng.choice(_SARCASTIC_HEADLINES)
        sentences.append(template.format(p=product, bad=bad))
        # Sarcasm states few facts: at most one or two of the drawn complaints survive.
        for clause in aspects[: rng.randint(0, 1) if length == "medium" else rng.randint(1, 2)]:
            if clause != bad:
                sentences.append(rng.choice(_SARCASTIC_ASPECTS).format(a=clause))
        verdicts = _SARCASTIC_VERDICTS if rng.random() < 0.7 else _VERDICTS[NEGATIVE]
        sentences.append(rng.choice(verdicts))
    if length == "long":
        for filler in rng.sample(_FILLERS, rng.randint(1, 2)):
            sentences.insert(rng.randint(1, len(sentences) - 1), filler)
    if user.signature and rng.random() < 0.8:
        sentences.append(user.signature)
    return " ".join(sentences), style


def _informal(rng: random.Random, text: str, label: str) -> str:
    for pattern, replacement in _INFORMAL_SWAPS:
        if rng.random() < 0.6:
            text = pattern.sub(replacement, text)
    if rng.random() < 0.85:
        text = text.lower()
    if rng.random() < 0.4:
        text = text.replace(".", "")
    elif rng.random() < 0.5:
        text = text.rstrip(".")
    if rng.random() < 0.45:
        text = f"{text} {rng.choice(_SLANG[label])}"
    if rng.random() < 0.3:
        text = f"{rng.choice(_INFORMAL_OPENERS)} {text}"
    return _tidy(text)


def _foreign(rng: random.Random, language: str, category: str, label: str, length: str):
    vocab = _FOREIGN[language]
    product = rng.choice(vocab["products"][category])
    if length == "short" and rng.random() < 0.25:
        return rng.choice(vocab["vague"]), "vague"
    negated = rng.random() < 0.3
    cues = list(vocab[label])
    rng.shuffle(cues)
    if negated:
        cues.insert(0, rng.choice(vocab["negated"][label]))
    context = rng.choice(vocab["contexts"]).format(p=product)
    if length == "short":
        sentences = cues[:1] + ([context] if rng.random() < 0.5 else [])
    elif length == "medium":
        sentences = [context, *cues[: rng.randint(1, 2)], rng.choice(vocab["verdicts"][label])]
    else:
        sentences = [context, *cues[: rng.randint(3, 4)]]
        sentences += rng.sample(vocab["fillers"], 2)
        sentences.append(rng.choice(vocab["verdicts"][label]))
    return " ".join(sentences), "negated" if negated else "plain"


class _Generator:
    """Draws rows whose texts are unique after normalisation, from per-source random streams."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.seen: set[str] = set()

    def rng(self, purpose: str) -> random.Random:
        # Seeding with a str is stable from run to run (it is hashed with sha512, not hash()).
        return random.Random(f"bayesline-demo:{self.seed}:{purpose}")

    def row(
        self,
        rng: random.Random,
        source: str,
        user: _User,
        *,
        label: str | None = None,
        length: str | None = None,
        language: str | None = None,
    ) -> _Row:
        profile = _PROFILES[source]
        category = user.category if rng.random() < 0.7 else _pick(rng, profile.categories)
        channel = user.channel if rng.random() < 0.85 else _pick(rng, profile.channels)
        length = length or (user.length if rng.random() < 0.6 else _pick(rng, profile.lengths))
        language = language or user.language
        label = label or (POSITIVE if rng.random() < user.positive_rate else NEGATIVE)
        informal = language == "en" and rng.random() < (0.85 if user.informal else 0.04)
        for attempt in range(40):
            if attempt == 20 and length == "short":
                length = "medium"  # a short text space can run out; longer ones never do
            if language == "en":
                text, style = _english(rng, category, label, length, user, informal)
                if informal:
                    text = _informal(rng, text, label)
            else:
                text, style = _foreign(rng, language, category, label, length)
            key = normalized_text(text)
            if key not in self.seen:
                break
        else:  # pragma: no cover - needs tens of thousands of rows
            raise RuntimeError("could not draw a unique review text; lower the row counts")
        self.seen.add(key)
        noise = _NOISE[style] + (_FOREIGN_EXTRA_NOISE if language != "en" else 0.0)
        flipped = rng.random() < noise
        sentiment = (POSITIVE if label == NEGATIVE else NEGATIVE) if flipped else label
        return _Row(source, user, sentiment, text, channel, category, language, label, style)


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


def _plant_near_duplicates(rng: random.Random, rows: dict[str, list[_Row]]) -> list[tuple]:
    pairs = []
    for origin, destination, rate in _NEAR_DUPLICATES:
        sources = TRAINING_SOURCES if origin == "training" else (origin,)
        origins = [row for source in sources for row in rows[source]]
        count = max(2, round(rate * len(rows[destination])))
        chosen = 0
        while chosen < count:
            original, copy = rng.choice(origins), rng.choice(rows[destination])
            if original is copy or original.in_pair or copy.in_pair:
                continue
            if len(original.text.split()) <= SHORT_MAX_WORDS:
                continue  # only distinctive texts are worth copying
            original.in_pair = copy.in_pair = True
            copy.text = _near_duplicate_text(rng, original.text)
            copy.sentiment, copy.true_sentiment = original.sentiment, original.true_sentiment
            copy.category, copy.language, copy.style = (
                original.category,
                original.language,
                original.style,
            )
            if origin == destination and rng.random() < 0.5:  # the same user posting twice
                copy.user, copy.channel = original.user, original.channel
            pairs.append((original, copy))
            chosen += 1
    return pairs


def _plant_malformed(gen: _Generator, files: dict[str, list[_Row]], users: dict) -> None:
    rng = gen.rng("malformed")
    for relpath, kind, flavour in _PLANTS:
        source = relpath.split("/", 1)[0]
        lines = files[relpath]
        user = rng.choice(users[source])
        if kind in ("duplicate_id_within_file", "duplicate_id_across_files"):
            pool = files[relpath if kind == "duplicate_id_within_file" else flavour]
            original = rng.choice([r for r in pool if r.kind is None])
            row = gen.row(rng, source, original.user, length="medium", language="en")
            row.duplicate_of = original
            start = lines.index(original) + 1 if original in lines else 0
        else:
            language = "es" if flavour == "latin-1" else "en"
            label = NEGATIVE if kind == "invalid_utf8" else None
            row = gen.row(rng, source, user, label=label, length="medium", language=language)
            start = 0
            if kind == "invalid_utf8" and flavour == "latin-1":
                row.text += "" if not row.text.isascii() else " Llegó dañado."
            elif kind == "invalid_utf8":
                row.text = "Don\u2019t trust the \u201cpremium\u201d label. " + row.text
            elif kind == "extra_field" and flavour == "unquoted comma":
                # A text with exactly one comma, written without the quotes CSV needs.
                head, *rest = row.text.replace('"', "").split(",")
                row.text = f"{head},{''.join(rest)}" if rest else f"Honestly, {row.text}"
            elif kind == "extra_field":  # a tab pasted between two sentences of a TSV text
                text = row.text.replace(". ", ".\t", 1)
                row.text = text if "\t" in text else f"{text}\tThanks."
            elif kind == "missing_label":
                row.sentiment = None if flavour == "null" else ""
            elif kind == "unknown_label":
                row.sentiment = flavour
            elif kind == "empty_text":
                row.text = ""
        row.kind, row.flavour = kind, flavour
        lines.insert(rng.randint(start, len(lines)), row)


def _assign_ids(files: dict[str, list[_Row]]) -> None:
    counters = Counter()
    for spec in FILES:
        for row in files[spec.relpath]:
            if row.duplicate_of is None:
                counters[spec.source] += 1
                row.review_id = f"{_ID_PREFIX[spec.source]}-{counters[spec.source]:06d}"
    for spec in FILES:
        for row in files[spec.relpath]:
            if row.duplicate_of is not None:
                row.review_id = row.duplicate_of.review_id


@dataclass
class _Plan:
    files: dict[str, list[_Row]]
    pairs: list[tuple[_Row, _Row]] = field(default_factory=list)


def check_sizes(n_training: int, n_target: int) -> None:
    """Raise ValueError unless the row counts are large enough for the planted rows."""
    for name, value in (("n_training", n_training), ("n_target", n_target)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if n_training < MIN_TRAINING_ROWS or n_target < MIN_TARGET_ROWS:
        raise ValueError(
            f"n_training must be at least {MIN_TRAINING_ROWS} and n_target at least "
            f"{MIN_TARGET_ROWS} (got {n_training} and {n_target}): with fewer rows the planted "
            "malformed rows would make up too much of some files"
        )


def _plan(seed: int, n_training: int, n_target: int) -> _Plan:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    check_sizes(n_training, n_target)
    gen = _Generator(seed)
    n_web = round(n_training * 2 / 3)
    sizes = {"web_reviews": n_web, "partner_feed": n_training - n_web, "app_reviews": n_target}
    users: dict[str, list[_User]] = {}
    rows: dict[str, list[_Row]] = {}
    for source in SOURCES:
        rng = gen.rng(f"rows:{source}")
        users[source], slots = [], []
        while len(slots) < sizes[source]:
            user = _new_user(rng, _PROFILES[source])
            users[source].append(user)
            slots += [user] * _pick(rng, _REVIEWS_PER_USER)
        del slots[sizes[source] :]
        if source == "partner_feed":
            for i in rng.sample(range(len(slots)), round(_SYNDICATED_SHARE * len(slots))):
                slots[i] = rng.choice(users["web_reviews"])
        rng.shuffle(slots)
        rows[source] = [gen.row(rng, source, user) for user in slots]
    everyone = [u for source in SOURCES for u in users[source]]
    numbers = list(range(1, len(everyone) + 1))
    gen.rng("user-ids").shuffle(numbers)
    for user, number in zip(everyone, numbers, strict=True):
        user.user_id = f"u{number:04d}"
    pairs = _plant_near_duplicates(gen.rng("near-duplicates"), rows)
    files: dict[str, list[_Row]] = {}
    for source in SOURCES:
        specs = [s for s in FILES if s.source == source]
        start = 0
        for i, spec in enumerate(specs):
            end = (
                len(rows[source])
                if i == len(specs) - 1
                else start + round(spec.share * sizes[source])
            )
            files[spec.relpath] = rows[source][start:end]
            start = end
    _plant_malformed(gen, files, users)
    _assign_ids(files)
    return _Plan(files, pairs)


def build_demo_examples(
    seed: int = 7, n_training: int = 6000, n_target: int = 3000
) -> tuple[DemoExample, ...]:
    """The well-formed rows `generate_demo_data` writes for these arguments, with the label
    before noise and the style of each text (for analysing noise and difficulty)."""
    plan = _plan(seed, n_training, n_target)
    return tuple(
        DemoExample(
            dict(zip(COLUMNS, row.values(), strict=True)),
            row.source,
            relpath,
            row.true_sentiment,
            row.style,
        )
        for relpath, rows in plan.files.items()
        for row in rows
        if row.kind is None
    )


# --------------------------------------------------------------------------------------------
# Writing


def _csv_line(values: Sequence[str | None], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _csv_bytes(rows: list[_Row]) -> bytes:
    out = [_csv_line(COLUMNS).encode()]
    for row in rows:
        values = row.values()
        if row.kind == "extra_field":  # the text's comma is left unquoted
            out.append((",".join(v or "" for v in values) + "\n").encode())
        elif row.kind == "missing_field":
            out.append(_csv_line(values[:-1]).encode())
        elif row.kind == "invalid_utf8":
            out.append(_csv_line(values).encode(row.flavour))
        else:
            out.append(_csv_line(values).encode())
    return b"".join(out)


def _tsv_bytes(rows: list[_Row]) -> bytes:
    out = ["\t".join(COLUMNS) + "\n"]
    for row in rows:
        values = [v or "" for v in row.values()]
        if row.kind == "missing_field":
            values = values[:-1]
        elif row.kind != "extra_field" and any("\t" in v or "\n" in v for v in values):
            raise AssertionError("TSV values must not contain tabs or newlines")
        out.append("\t".join(values) + "\n")
    return "".join(out).encode()


def _jsonl_bytes(rows: list[_Row]) -> bytes:
    out = []
    for row in rows:
        record = dict(zip(COLUMNS, row.values(), strict=True))
        line = json.dumps(record, ensure_ascii=False)
        if row.kind == "invalid_json" and row.flavour == "truncated":
            line = line[: len(line) // 2]
        elif row.kind == "invalid_json":  # a Python dict's repr: single quotes
            line = repr(record)
        out.append(line + "\n")
    return "".join(out).encode()


def _parquet_bytes(rows: list[_Row]) -> bytes:
    columns = [list(values) for values in zip(*(row.values() for row in rows), strict=True)]
    table = pa.table(
        {
            name: pa.array(values, type=pa.string())
            for name, values in zip(COLUMNS, columns, strict=True)
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


_WRITERS = {"csv": _csv_bytes, "tsv": _tsv_bytes, "jsonl": _jsonl_bytes, "parquet": _parquet_bytes}


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` atomically, unless the file already holds exactly these bytes
    (so an unchanged file keeps its mtime and is not picked up again)."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")  # hidden: landing discovery skips it
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return True


def _first_line(spec: _FileSpec) -> int:
    return 2 if spec.fmt in ("csv", "tsv") else 1


def generate_demo_data(
    landing_dir: Path, seed: int = 7, n_training: int = 6000, n_target: int = 3000
) -> DemoDataSummary:
    """Write the demo landing files under `landing_dir/<source>/` and say what they hold.

    `n_training` and `n_target` count the well-formed rows of the training sources
    (web_reviews two thirds, partner_feed one third) and of the target source app_reviews;
    the planted malformed rows come on top. The same arguments give the same bytes on every
    run (with the same Python and pyarrow versions: Parquet files record their writer).
    """
    landing_dir = Path(landing_dir)
    plan = _plan(seed, n_training, n_target)
    written, changed, planted = [], [], []
    rows_written: Counter[str] = Counter()
    rows_per_file: dict[str, int] = {}
    for spec in FILES:
        rows = plan.files[spec.relpath]
        path = landing_dir / spec.source / spec.name
        if _write_if_changed(path, _WRITERS[spec.fmt](rows)):
            changed.append(path)
        written.append(path)
        rows_written[spec.source] += len(rows)
        rows_per_file[spec.relpath] = len(rows)
        planted += [
            PlantedRow(spec.relpath, i + _first_line(spec), row.kind, row.review_id)
            for i, row in enumerate(rows)
            if row.kind
        ]
    kinds = Counter(row.kind for row in planted)
    flipped = Counter(
        row.source
        for rows in plan.files.values()
        for row in rows
        if row.kind is None and row.sentiment != row.true_sentiment
    )
    return DemoDataSummary(
        landing_dir=landing_dir,
        files=tuple(written),
        rows_written={source: rows_written[source] for source in SOURCES},
        rows_per_file=rows_per_file,
        malformed={kind: kinds[kind] for kind in MALFORMED_KINDS},
        planted=tuple(planted),
        labels_flipped={source: flipped[source] for source in SOURCES},
        near_duplicates=tuple((a.review_id, b.review_id) for a, b in plan.pairs),
        files_changed=tuple(changed),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bayesline.demo_data",
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


if __name__ == "__main__":
    raise SystemExit(main())
