"""The consoles, the error exit and the config check every `bayesline` command shares."""

from __future__ import annotations

import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
import typer
from rich.console import Console
from rich.markup import escape

from deployment.errors import BayeslineError, InvariantError
from warehouse.config import BayeslineConfig, ConfigError, load_config
from warehouse.layout import WarehouseLayout

console = Console()
errors = Console(stderr=True)

#: Exceptions that are how click and typer end a command: they pass through untouched.
_CLICK_EXITS = (
    click.exceptions.Exit,
    click.ClickException,
    click.exceptions.Abort,
    typer.Exit,
    typer.Abort,
    typer.exceptions.TyperException,
)


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


@contextmanager
def reported_errors() -> Iterator[None]:
    """Exit 1 with a BayeslineError's message; report any other exception as a bug.

    A BayeslineError is a problem with the input, config or environment and its message says
    what to do next. Anything else (and a broken invariant) is a bug in Bayesline: its
    traceback goes to a log file, and the user is asked to open an issue with it.
    """
    try:
        yield
    except _CLICK_EXITS:
        raise
    except InvariantError as exc:
        _report_bug(exc)
        raise SystemExit(1) from exc
    except BayeslineError as exc:
        print_error(str(exc))
        raise SystemExit(1) from exc
    except Exception as exc:
        _report_bug(exc)
        raise SystemExit(1) from exc


def _report_bug(exc: BaseException) -> None:
    log_path = write_bug_log(exc)
    print_error(
        f"unexpected {type(exc).__name__}: {exc}. This is a bug in Bayesline, not a problem "
        f"with your data or config: please open an issue with the log file {log_path}"
    )


def write_bug_log(exc: BaseException) -> Path:
    """The traceback in logs/bug-<time>.log under BAYESLINE_HOME (or a temp file)."""
    text = "".join(traceback.format_exception(exc))
    name = f"bug-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.log"
    try:
        logs = WarehouseLayout.from_env().logs_dir
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / name
        path.write_text(text, encoding="utf-8")
    except OSError:  # an unwritable home must not hide the bug: the temp dir takes it
        with tempfile.NamedTemporaryFile(
            "w", prefix="bayesline-", suffix=f"-{name}", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(text)
        path = Path(handle.name)
    return path
