"""Composing review texts from the vocabulary and templates.

An English text has a style: `plain`, `negated`, `mixed` (good and bad points, the label
decides the verdict) or `sarcastic` (negative, worded positively); short texts are `short`,
`vague` or `sarcastic`. Spanish and German texts are `plain`, `negated` or `vague`.

Every function draws from the `rng` it is given in a fixed order: reordering the draws, even
ones whose result goes unused, changes every generated file.
"""

from __future__ import annotations

import random

from bayesline.demo.records import NEGATIVE, POSITIVE
from bayesline.demo.templates import (
    ASPECT_FORMS,
    BAD_ADJECTIVES,
    FILLERS,
    GOOD_ADJECTIVES,
    HEADLINES,
    INFORMAL_OPENERS,
    INFORMAL_SWAPS,
    INTENSIFIERS,
    MIXED_VERDICTS,
    NEGATED_HEADLINES,
    NEGATED_VERDICTS,
    OPENINGS,
    SARCASTIC_ASPECTS,
    SARCASTIC_HEADLINES,
    SARCASTIC_VERDICTS,
    SHORT_CORES,
    SHORT_NEGATED,
    SHORT_SARCASTIC,
    SHORT_TAILS,
    SHORT_VAGUE,
    SLANG,
    SLANG_SHORT,
    VERDICTS,
)
from bayesline.demo.vocabulary import FOREIGN, VOCAB, ForeignVocab, Vocab

# Electronics is the hard category: sarcasm, mixed feelings and vague short texts cluster there.
SARCASM_RATE = {"electronics": 0.35, "books": 0.03, "home": 0.03, "grocery": 0.02, "toys": 0.03}
MIXED_RATE = {"electronics": 0.3, "books": 0.15, "home": 0.12, "grocery": 0.1, "toys": 0.12}
VAGUE_RATE = {"electronics": 0.45, "books": 0.25, "home": 0.25, "grocery": 0.2, "toys": 0.25}
NEGATED_RATE = 0.2  # of medium and long English texts that are not sarcastic

TextAndStyle = tuple[str, str]  # (text, style)


def compose_text(
    rng: random.Random,
    language: str,
    category: str,
    label: str,
    length: str,
    signature: str | None,
    informal: bool,
) -> TextAndStyle:
    """A review text for `label` in the given language and length bucket, and its style.
    `signature` is the writer's habitual sign-off; `informal` only applies to English."""
    if language != "en":
        return _foreign(rng, FOREIGN[language], category, label, length)
    text, style = _english(rng, category, label, length, signature, informal)
    if informal:
        text = _informal(rng, text, label)
    return text, style


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _tidy(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------
# English


def _english(
    rng: random.Random,
    category: str,
    label: str,
    length: str,
    signature: str | None,
    informal: bool,
) -> TextAndStyle:
    vocab = VOCAB[category]
    product = rng.choice(vocab.products)
    if length == "short":
        return _short_english(rng, category, label, product, informal)
    style = _long_style(rng, category, label)
    aspects, contrary = _draw_aspects(rng, vocab, label, length, style)
    sentences = _opening(rng, vocab, product, length)
    if style == "plain":
        sentences += _plain(rng, label, product, aspects)
    elif style == "negated":
        sentences += _negated(rng, label, product, aspects)
    elif style == "mixed":
        sentences += _mixed(rng, label, aspects, contrary)
    else:
        sentences += _sarcastic(rng, vocab, product, aspects, length)
    if length == "long":
        for filler in rng.sample(FILLERS, rng.randint(1, 2)):
            sentences.insert(rng.randint(1, len(sentences) - 1), filler)
    if signature and rng.random() < 0.8:
        sentences.append(signature)
    return " ".join(sentences), style


def _short_english(
    rng: random.Random, category: str, label: str, product: str, informal: bool
) -> TextAndStyle:
    roll = rng.random()
    if informal and rng.random() < 0.5:  # slang the training sources hardly ever use
        style, core = "short", rng.choice(SLANG_SHORT[label])
    elif label == NEGATIVE and rng.random() < SARCASM_RATE[category] * 0.6:
        style, core = "sarcastic", rng.choice(SHORT_SARCASTIC)
    elif roll < VAGUE_RATE[category]:
        style, core = "vague", rng.choice(SHORT_VAGUE)
    elif roll < VAGUE_RATE[category] + 0.15:
        style, core = "short", rng.choice(SHORT_NEGATED[label])
    else:
        style, core = "short", rng.choice(SHORT_CORES[label])
    end = rng.choice((".", ".", "!", ""))
    return _tidy(core.format(p=product) + rng.choice(SHORT_TAILS) + end), style


def _long_style(rng: random.Random, category: str, label: str) -> str:
    if label == NEGATIVE and rng.random() < SARCASM_RATE[category]:
        return "sarcastic"
    roll = rng.random()
    if roll < NEGATED_RATE:
        return "negated"
    return "mixed" if roll < NEGATED_RATE + MIXED_RATE[category] else "plain"


def _draw_aspects(
    rng: random.Random, vocab: Vocab, label: str, length: str, style: str
) -> tuple[list[str], list[str]]:
    """Clauses agreeing with the label and, for a mixed review, as many contrary ones."""
    own, other = (vocab.good, vocab.bad) if label == POSITIVE else (vocab.bad, vocab.good)
    n_aspects = rng.randint(1, 2) if length == "medium" else rng.randint(3, 5)
    if style == "mixed":
        n_aspects = min(n_aspects, 3)
    # good[i] and bad[i] talk about the same thing, so a mixed review draws distinct indices
    picked = rng.sample(range(len(own)), 2 * n_aspects if style == "mixed" else n_aspects)
    return [own[i] for i in picked[:n_aspects]], [other[i] for i in picked[n_aspects:]]


def _opening(rng: random.Random, vocab: Vocab, product: str, length: str) -> list[str]:
    if length == "long" or rng.random() < 0.35:
        opening = rng.choice(OPENINGS)
        return [opening.format(p=product, c=rng.choice(vocab.contexts))]
    return []


def _headline(rng: random.Random, polarity: str, product: str) -> str:
    adjectives = GOOD_ADJECTIVES if polarity == POSITIVE else BAD_ADJECTIVES
    template = rng.choice(HEADLINES[polarity])
    text = template.format(i=rng.choice(INTENSIFIERS), a=rng.choice(adjectives), p=product)
    return _cap(_tidy(text))  # tidy: the intensifier may be empty


def _aspect(rng: random.Random, clause: str, polarity: str) -> str:
    return rng.choice(ASPECT_FORMS[polarity]).format(a=clause, A=_cap(clause))


def _plain(rng: random.Random, label: str, product: str, aspects: list[str]) -> list[str]:
    sentences = [_headline(rng, label, product)]
    sentences += [_aspect(rng, clause, label) for clause in aspects]
    sentences.append(rng.choice(VERDICTS[label]))
    return sentences


def _negated(rng: random.Random, label: str, product: str, aspects: list[str]) -> list[str]:
    sentences = [rng.choice(NEGATED_HEADLINES[label]).format(p=product)]
    sentences += [_aspect(rng, clause, label) for clause in aspects]
    verdicts = NEGATED_VERDICTS if rng.random() < 0.6 else VERDICTS
    sentences.append(rng.choice(verdicts[label]))
    return sentences


def _mixed(rng: random.Random, label: str, aspects: list[str], contrary: list[str]) -> list[str]:
    sentences = []
    for mine, theirs in zip(aspects, contrary, strict=True):
        first, last = (theirs, mine) if rng.random() < 0.7 else (mine, theirs)
        sentences.append(f"{_cap(first)}, but {last}.")
    sentences.append(rng.choice(MIXED_VERDICTS[label]))
    return sentences


def _sarcastic(
    rng: random.Random, vocab: Vocab, product: str, complaints: list[str], length: str
) -> list[str]:
    bad = rng.choice(vocab.bad)
    template = rng.choice(SARCASTIC_HEADLINES)
    sentences = [template.format(p=product, bad=bad)]
    # Sarcasm states few facts: at most one or two of the drawn complaints survive.
    for clause in complaints[: rng.randint(0, 1) if length == "medium" else rng.randint(1, 2)]:
        if clause != bad:
            sentences.append(rng.choice(SARCASTIC_ASPECTS).format(a=clause))
    verdicts = SARCASTIC_VERDICTS if rng.random() < 0.7 else VERDICTS[NEGATIVE]
    sentences.append(rng.choice(verdicts))
    return sentences


def _informal(rng: random.Random, text: str, label: str) -> str:
    for pattern, replacement in INFORMAL_SWAPS:
        if rng.random() < 0.6:
            text = pattern.sub(replacement, text)
    if rng.random() < 0.85:
        text = text.lower()
    if rng.random() < 0.4:
        text = text.replace(".", "")
    elif rng.random() < 0.5:
        text = text.rstrip(".")
    if rng.random() < 0.45:
        text = f"{text} {rng.choice(SLANG[label])}"
    if rng.random() < 0.3:
        text = f"{rng.choice(INFORMAL_OPENERS)} {text}"
    return _tidy(text)


# --------------------------------------------------------------------------------------------
# Spanish and German


def _foreign(
    rng: random.Random, vocab: ForeignVocab, category: str, label: str, length: str
) -> TextAndStyle:
    product = rng.choice(vocab.products[category])
    if length == "short" and rng.random() < 0.25:
        return rng.choice(vocab.vague), "vague"
    negated = rng.random() < 0.3
    cues = list(vocab.cues[label])
    rng.shuffle(cues)
    if negated:
        cues.insert(0, rng.choice(vocab.negated[label]))
    context = rng.choice(vocab.contexts).format(p=product)
    if length == "short":
        sentences = cues[:1] + ([context] if rng.random() < 0.5 else [])
    elif length == "medium":
        sentences = [context, *cues[: rng.randint(1, 2)], rng.choice(vocab.verdicts[label])]
    else:
        sentences = [context, *cues[: rng.randint(3, 4)]]
        sentences += rng.sample(vocab.fillers, 2)
        sentences.append(rng.choice(vocab.verdicts[label]))
    return " ".join(sentences), "negated" if negated else "plain"
