"""The root of every error Bayesline raises on purpose: `BayeslineError`.

It lives in `deployment/`, the lowest of our packages: `deployment` imports none of the others,
and `warehouse` (which every other package imports) imports `deployment`, so every package can
derive its errors from this one without an import cycle.

A `BayeslineError` means the input, the config or the environment needs a change, and its
message says which; the command line prints it in one line. Any other exception escaping a
command, and an `InvariantError`, is a bug in Bayesline, reported as one. The tree, by package:

    BayeslineError
    ├── deployment: DeploymentError (ValueError), ClusterError, AdvisoryLockTimeout (TimeoutError)
    ├── warehouse:  ConfigError (ValueError) and its SparkUnavailableError, SliceColumnError;
    │               WriterBusyError, MemoryCapError (MemoryError), InvalidVersionError
    │               (ValueError), UnknownVersionError (LookupError), BatchDecisionError,
    │               PublishedFolderError and PublishedObjectError (FileExistsError), ...
    ├── quality, labeling, evaluation, handoff: one class per failure a caller tells apart
    ├── assets:     UnknownSelectionError (ValueError)
    └── InvariantError (RuntimeError): a guarantee broke, e.g. SplitInvariantError; a bug

Classes mix in the builtin their callers already catch (`class ConfigError(BayeslineError,
ValueError)`), so code written against the builtin keeps working.
"""


class BayeslineError(Exception):
    """A problem with the input, config or environment; the message says what to do next."""


class InvariantError(BayeslineError, RuntimeError):
    """Something Bayesline guarantees did not hold: a bug, never an expected outcome."""
