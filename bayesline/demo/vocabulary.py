"""What the demo reviews talk about: per category, the products, the reasons for buying them
and the good and bad things to say about them; and the Spanish and German phrase tables.

Pure data. Changing any entry changes the generated files.
"""

from __future__ import annotations

from dataclasses import dataclass

from bayesline.demo.records import NEGATIVE, POSITIVE


@dataclass(frozen=True)
class Vocab:
    """The English vocabulary of one product category."""

    products: tuple[str, ...]
    contexts: tuple[str, ...]  # why or for whom it was bought: "Bought this {p} {c}."
    good: tuple[str, ...]  # clauses, lower case, no final full stop
    bad: tuple[str, ...]  # bad[i] is about the same thing as good[i]


VOCAB = {
    # Every aspect must fit every product of its category.
    "electronics": Vocab(
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
    "books": Vocab(
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
    "home": Vocab(
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
    "grocery": Vocab(
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
    "toys": Vocab(
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


@dataclass(frozen=True)
class ForeignVocab:
    """Sentences in one language other than English. Few rows and few templates: these texts
    are hard for a model."""

    products: dict[str, tuple[str, ...]]  # category -> products, with their article
    contexts: tuple[str, ...]  # opening sentences with a {p} for the product
    cues: dict[str, tuple[str, ...]]  # label -> sentences that carry that sentiment
    negated: dict[str, tuple[str, ...]]  # label -> negated sentences carrying that sentiment
    verdicts: dict[str, tuple[str, ...]]  # label -> closing sentences
    vague: tuple[str, ...]  # whole texts with no clear sentiment
    fillers: tuple[str, ...]  # neutral sentences


FOREIGN = {
    "es": ForeignVocab(
        products={
            "electronics": ("unos auriculares", "unos cascos", "un altavoz bluetooth"),
            "books": ("un libro", "una novela", "una biografía"),
            "home": ("una batidora", "un hervidor", "una tostadora", "una cafetera"),
            "grocery": ("café en grano", "miel", "chocolate negro", "galletas"),
            "toys": ("un puzle", "un juego de mesa", "un set de construcción"),
        },
        contexts=(
            "Compré {p} hace dos semanas.",
            "Pedí {p} para regalar.",
            "Es la segunda vez que compro {p}.",
            "Compré {p} en oferta.",
        ),
        cues={
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
        },
        negated={
            POSITIVE: ("No me arrepiento de la compra.", "No está nada mal.", "No tiene defectos."),
            NEGATIVE: ("No lo recomiendo.", "No es como en la foto.", "No vale lo que cuesta."),
        },
        verdicts={
            POSITIVE: ("Lo volvería a comprar.", "Cinco estrellas.", "Totalmente recomendable."),
            NEGATIVE: ("No lo volvería a comprar.", "Lo he devuelto.", "Una estrella."),
        },
        vague=("Normal.", "Está bien.", "Regular.", "Ni fu ni fa."),
        fillers=(
            "El envío tardó tres días.",
            "Venía en una caja normal.",
            "Lo uso desde hace un mes.",
        ),
    ),
    "de": ForeignVocab(
        products={
            "electronics": ("einen Kopfhörer", "Ohrhörer", "einen Bluetooth-Lautsprecher"),
            "books": ("ein Buch", "einen Roman", "eine Biografie"),
            "home": ("einen Mixer", "einen Wasserkocher", "einen Toaster", "eine Kaffeemaschine"),
            "grocery": ("Kaffeebohnen", "Honig", "dunkle Schokolade", "Kekse"),
            "toys": ("ein Puzzle", "ein Brettspiel", "einen Baukasten"),
        },
        contexts=(
            "Habe {p} vor zwei Wochen gekauft.",
            "Ich habe {p} als Geschenk bestellt.",
            "Zum zweiten Mal {p} bestellt.",
            "Habe {p} im Angebot gekauft.",
        ),
        cues={
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
        },
        negated={
            POSITIVE: ("Nicht schlecht.", "Kann mich nicht beklagen.", "Keine Probleme bisher."),
            NEGATIVE: (
                "Nicht zu empfehlen.",
                "Nicht wie beschrieben.",
                "Nicht das Geld wert.",
            ),
        },
        verdicts={
            POSITIVE: ("Würde ich wieder kaufen.", "Fünf Sterne.", "Absolut empfehlenswert."),
            NEGATIVE: ("Würde ich nicht wieder kaufen.", "Geht zurück.", "Ein Stern."),
        },
        vague=("Geht so.", "Ganz okay.", "Naja.", "Durchschnittlich."),
        fillers=(
            "Die Lieferung dauerte drei Tage.",
            "Kam in einem normalen Karton.",
            "Ich benutze es seit einem Monat.",
        ),
    ),
}
