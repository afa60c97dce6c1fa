"""The consoles, the error exit and the config check every `bayesline` command shares."""

import typer
from rich.console import Console
from rich.markup import escape

from warehouse.config import BayeslineConfig, ConfigError, load_config

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error that says what to do next; raise the returned Exit."""
    print_error(message)
    return typer.Exit(code)


def print_error(message: str) -> None:
    """`error: message` on stderr, as one line."""
    # Escaped: "[dataset]" in a message is text, not rich markup (unescaped, it vanished).
    # soft_wrap: one logical line, however narrow the terminal; the terminal folds it.
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def checked_config() -> BayeslineConfig:
    """The validated config, or its error in one line and exit 1: before anything runs."""
    try:
        return load_config()
    except ConfigError as exc:
        raise fail(str(exc)) from exc
