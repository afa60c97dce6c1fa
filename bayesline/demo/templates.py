"""The English sentence templates of the demo reviews: openings, headlines, aspects and
verdicts in each style, short texts, sign-offs and the informal rewrites of the app crowd.

Pure data. Placeholders: {p} product, {c} context, {i} intensifier, {a} adjective or aspect
clause, {A} the clause capitalised, {bad} a complaint. Changing any entry changes the
generated files.
"""

from __future__ import annotations

import re

from bayesline.demo.records import NEGATIVE, POSITIVE

# Medium and long English reviews

OPENINGS = (
    "Bought this {p} {c}.",
    "I got the {p} {c}.",
    "Ordered the {p} {c}.",
    "Picked up this {p} {c}.",
)
INTENSIFIERS = ("", "", "really", "very", "absolutely", "incredibly", "super", "pretty")
GOOD_ADJECTIVES = ("great", "excellent", "fantastic", "solid", "lovely", "reliable", "good")
BAD_ADJECTIVES = ("terrible", "awful", "disappointing", "poor", "useless", "flimsy", "bad")
HEADLINES = {
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
NEGATED_HEADLINES = {
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
ASPECT_FORMS = {
    POSITIVE: ("{A}.", "Also, {a}.", "{A}, which is great.", "I was happy that {a}."),
    NEGATIVE: ("{A}.", "Also, {a}.", "{A}, which is annoying.", "Sadly, {a}."),
}
VERDICTS = {
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
NEGATED_VERDICTS = {
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
MIXED_VERDICTS = {
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
SARCASTIC_HEADLINES = (
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
SARCASTIC_ASPECTS = ("Love how {a}.", "Brilliant, {a}.", "And of course {a}. Wonderful.")
SARCASTIC_VERDICTS = (
    "Would totally buy again. Not.",
    "Ten out of ten, would be disappointed again.",
    "Great job, really.",
    "Thanks a lot.",
    'A real "bargain".',
)
FILLERS = (
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
SIGNATURES = (
    "Just my two cents.",
    "Hope this helps!",
    "Cheers, M.",
    "Happy shopping!",
    "Will update if anything changes.",
    "That's all, folks.",
)

# Short English reviews: one core phrase and an optional tail

SHORT_CORES = {
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
SHORT_NEGATED = {
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
SHORT_VAGUE = (
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
SHORT_SARCASTIC = (
    "Oh great, dead already",
    "Wow, broke on day one. Amazing",
    "Love paying for junk",
    "Perfect, if you like things that don't work",
    "Brilliant, another {p} for the bin",
)
SHORT_TAILS = (
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

# The informal rewrite: how most app users, and hardly any web reviewers, write

INFORMAL_SWAPS = tuple(
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
SLANG = {
    POSITIVE: ("this slaps", "legit love it", "10/10", "obsessed", "no notes", "lowkey amazing"),
    NEGATIVE: ("total trash", "pretty mid tbh", "kinda scammy", "0/10", "dont bother", "big nope"),
}
SLANG_SHORT = {
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
INFORMAL_OPENERS = ("tbh", "ngl", "honestly", "ok so", "lol", "idk")
