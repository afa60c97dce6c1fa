"""Hand-off to training code: published split versions loaded, streamed and exported, each
read verified against its manifest's sha256s first.

`bayesline` re-exports the public API (`from bayesline import load_split, load_splits`).
"""
