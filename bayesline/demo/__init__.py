"""The bundled demo dataset: product reviews from two distributions, as landing files.

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

Modules: `records` (columns and in-memory rows), `vocabulary` and `templates` (the words),
`texts` (composing a review), `population` (users, their rows, noise, near-duplicates),
`files` (file layout, planted malformed rows, formats), `generate` (the entry points),
`results` (what they return), `command_line` (`python -m bayesline.demo`).
"""

from bayesline.demo.command_line import main
from bayesline.demo.files import MALFORMED_KINDS
from bayesline.demo.generate import build_demo_examples, check_sizes, generate_demo_data
from bayesline.demo.results import DemoDataSummary, DemoExample, PlantedRow

__all__ = [
    "MALFORMED_KINDS",
    "DemoDataSummary",
    "DemoExample",
    "PlantedRow",
    "build_demo_examples",
    "check_sizes",
    "generate_demo_data",
    "main",
]
