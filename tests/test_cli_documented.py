"""Every CLI command, and every option of it, is documented in the README."""

from __future__ import annotations

import re

import typer

from bayesline.cli import app
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def commands(group, path: tuple[str, ...] = ("bayesline",)):
    """(command path, command) for every leaf command under `group` (Typer's own click)."""
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def long_options(command) -> list[str]:
    return [
        option
        for param in command.params
        if param.param_type_name == "option" and not param.hidden
        for option in param.opts + param.secondary_opts
        if option.startswith("--") and option != "--help"
    ]


def test_every_command_is_in_the_readme():
    missing = [path for path, _ in commands(typer.main.get_command(app)) if path not in README]
    assert missing == [], f"document these commands in README.md: {missing}"


def test_every_option_is_in_the_readme():
    missing = [
        f"{path} {option}"
        for path, command in commands(typer.main.get_command(app))
        for option in long_options(command)
        if not re.search(re.escape(option) + r"\b", README)
    ]
    assert missing == [], f"document these options in README.md: {missing}"
