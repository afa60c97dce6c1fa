"""The consoles and the error exit every `bayesline` command shares."""

import typer
from rich.console import Console

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error that says what to do next; raise the returned Exit."""
    errors.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)
