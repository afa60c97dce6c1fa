"""`bayesline labelstudio ...`: the managed Label Studio server (own venv, 127.0.0.1 only)."""

from __future__ import annotations

from typing import Annotated

import typer

from bayesline.console import console, fail

labelstudio_app = typer.Typer(
    help="The Label Studio server for human labels (own venv, 127.0.0.1 only).",
    no_args_is_help=True,
)


@labelstudio_app.command("install")
def labelstudio_install() -> None:
    """Create .venv-labelstudio and install the pinned Label Studio into it (once)."""
    from labeling.install import ensure_installed
    from labeling.server_settings import LabelStudioError, LabelStudioSettings

    try:
        executable = ensure_installed(LabelStudioSettings.from_env(), progress=console.print)
    except LabelStudioError as exc:
        raise fail(str(exc)) from exc
    console.print(f"Label Studio is installed: {executable}")


@labelstudio_app.command("start")
def labelstudio_start(
    timeout: Annotated[int, typer.Option(help="Seconds to wait for the server.")] = 180,
) -> None:
    """Start Label Studio in the background (or report the running one)."""
    from labeling.client import admin_credentials
    from labeling.process import start
    from labeling.server_settings import LabelStudioError, LabelStudioSettings

    settings = LabelStudioSettings.from_env()
    try:
        state = start(settings, timeout_s=timeout, progress=console.print)
    except LabelStudioError as exc:
        raise fail(str(exc)) from exc
    console.print(f"Label Studio runs on {state.url} (pid {state.pid}); log: {state.log_path}")
    if state.admin_created:
        credentials = admin_credentials(settings)
        console.print(f"Admin account created: {credentials.username}")
        if credentials.password_generated:
            console.print(f"Its generated password (shown once): {credentials.password}")
    console.print(f"Admin password and API token are in {state.token_path} (mode 0600).")


@labelstudio_app.command("stop")
def labelstudio_stop() -> None:
    """Stop the Label Studio server."""
    from labeling.process import stop
    from labeling.server_settings import LabelStudioSettings

    stopped = stop(LabelStudioSettings.from_env())
    console.print("Label Studio stopped." if stopped else "Label Studio was not running.")


@labelstudio_app.command("status")
def labelstudio_status() -> None:
    """Whether Label Studio runs, where, and as which admin."""
    from labeling.process import status
    from labeling.server_settings import LabelStudioSettings

    state = status(LabelStudioSettings.from_env())
    if not state.running:
        raise fail("Label Studio is not running: `bayesline labelstudio start`", code=3)
    console.print(f"Label Studio runs on {state.url} (pid {state.pid}), admin {state.username}")


@labelstudio_app.command("add-labeler")
def labelstudio_add_labeler(
    email: Annotated[str, typer.Argument(help="The labeler's email (their login).")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="BAYESLINE_LABELER_PASSWORD",
            help="At least 8 characters; prompted for unless the variable is set.",
        ),
    ],
) -> None:
    """Create a labeler account in the admin's organisation."""
    from labeling.client import create_labeler
    from labeling.server_settings import LabelStudioError, LabelStudioSettings

    settings = LabelStudioSettings.from_env()
    try:
        create_labeler(settings, email, password)
    except LabelStudioError as exc:
        raise fail(str(exc)) from exc
    console.print(f"{email} can now log in at {settings.url}")
