"""Talking to Label Studio over HTTP: the API token, SDK clients, labeler accounts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx

from deployment.settings import label_studio_environment
from labeling.accounts import AccountError, Credentials, load_credentials, signup_with_invite
from labeling.server_settings import LabelStudioError, LabelStudioSettings

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio


def labeling_url(settings: LabelStudioSettings) -> str:
    """Where labeling happens: the settings' external server, else LABEL_STUDIO_URL (read
    now), else the managed server."""
    return settings.external_url or label_studio_environment().url or settings.url


def api_token(settings: LabelStudioSettings) -> str:
    """The settings' API key, else LABEL_STUDIO_API_KEY (read now), else the stored token."""
    key = settings.api_key or label_studio_environment().api_key
    if key:
        return key
    credentials = load_credentials(settings.credentials_path)
    if credentials is None or credentials.token is None:
        raise LabelStudioError(
            f"no Label Studio API token in {settings.credentials_path}: "
            "start the server first (`bayesline labelstudio start`)"
        )
    return credentials.token


def admin_credentials(settings: LabelStudioSettings) -> Credentials:
    """The admin's stored credentials (for the CLI to show a generated password once)."""
    credentials = load_credentials(settings.credentials_path)
    if credentials is None:
        raise LabelStudioError(f"no credentials in {settings.credentials_path} yet")
    return credentials


def client(
    settings: LabelStudioSettings, timeout_s: float = 60, http: httpx.Client | None = None
) -> LabelStudio:
    """A label-studio-sdk 2.x client (LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY override)."""
    # The SDK never closes its connection pool: pass `http` (an httpx.Client you close) or use
    # `connect` where unclosed sockets matter (the tests turn ResourceWarnings into errors).
    from label_studio_sdk import LabelStudio

    # The SDK's client constructor has no annotations (a third-party gap).
    return LabelStudio(  # type: ignore[no-untyped-call]
        base_url=labeling_url(settings),
        api_key=api_token(settings),
        timeout=None if http is not None else timeout_s,
        httpx_client=http,
    )


@contextlib.contextmanager
def connect(settings: LabelStudioSettings, timeout_s: float = 60) -> Iterator[LabelStudio]:
    """A label-studio-sdk client whose connections are closed on exit."""
    # Label Studio's development server stalls ~40 ms on a reused connection: don't keep any.
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=timeout_s, limits=limits) as http:
        yield client(settings, http=http)


def create_labeler(settings: LabelStudioSettings, email: str, password: str) -> None:
    """Create a non-admin account in the admin's organisation via a one-use invite link."""
    with connect(settings) as admin:
        invite = admin.organizations.invites.get_invite_link()
        try:
            signup_with_invite(labeling_url(settings), invite.invite_url, email, password)
        except AccountError as exc:
            raise LabelStudioError(str(exc)) from exc
        finally:
            # The link (its token is in the server's request log) must not let anyone else in.
            admin.organizations.reset_token()
