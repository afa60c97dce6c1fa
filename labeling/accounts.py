"""Label Studio accounts: the admin's 0600 credentials file, session logins, tokens, signups.

Everything here talks to a running Label Studio over HTTP only. Secrets (passwords, tokens)
go to the credentials file and nowhere else: never to logs, reprs or exception messages.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from deployment.atomic_files import write_text_atomically
from deployment.errors import BayeslineError
from deployment.settings import label_studio_admin_login

DEFAULT_ADMIN_EMAIL = "bayesline-admin@localhost"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_FIELD_ERRORS = re.compile(r'<ul class="field_errors">(.*?)</ul>', re.S)
_ITEM = re.compile(r"<li>(.*?)</li>", re.S)


class AccountError(BayeslineError):
    """A login, signup or token request that Label Studio refused."""


@dataclass(frozen=True)
class Credentials:
    """The admin account of one Label Studio data directory (secrets kept out of repr)."""

    username: str
    password: str = field(repr=False)
    password_generated: bool = False
    token: str | None = field(default=None, repr=False)

    def with_token(self, token: str) -> Credentials:
        """A copy holding the API token."""
        return replace(self, token=token)


def new_admin_credentials(environ: Mapping[str, str] | None = None) -> Credentials:
    """Admin credentials from LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD, else generated."""
    env = label_studio_admin_login() if environ is None else environ
    username = env.get("LABEL_STUDIO_USERNAME", "").strip() or DEFAULT_ADMIN_EMAIL
    if not _EMAIL.match(username):
        raise AccountError(
            "LABEL_STUDIO_USERNAME must be an email address (Label Studio logs in by email)"
        )
    password = env.get("LABEL_STUDIO_PASSWORD", "")
    if password:
        return Credentials(username, password, password_generated=False)
    return Credentials(username, secrets.token_urlsafe(24), password_generated=True)


def load_credentials(path: Path) -> Credentials | None:
    """The stored credentials, or None when the file does not exist yet."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Credentials(
        username=data["username"],
        password=data["password"],
        password_generated=bool(data.get("password_generated", False)),
        token=data.get("token"),
    )


def save_credentials(path: Path, credentials: Credentials) -> None:
    """Write the credentials atomically to a file only its owner can read (mode 0600)."""
    payload = {
        "username": credentials.username,
        "password": credentials.password,
        "password_generated": credentials.password_generated,
        "token": credentials.token,
    }
    write_text_atomically(path, json.dumps(payload, indent=2) + "\n", private=True)


def _form_errors(page: str) -> str:
    """The field errors a Django form page shows, as one line."""
    items = [
        html.unescape(re.sub(r"<[^>]+>", "", item)).strip()
        for block in _FIELD_ERRORS.findall(page)
        for item in _ITEM.findall(block)
    ]
    return "; ".join(i for i in items if i) or "the form was rejected"


def _post_form(client: httpx.Client, path: str, data: dict[str, str]) -> httpx.Response:
    """GET a form page for its CSRF cookie, then POST the form to it."""
    page = client.get(path)
    if page.status_code != 200:
        raise AccountError(f"GET {path.split('?')[0]} answered HTTP {page.status_code}")
    csrf = client.cookies.get("csrftoken")
    if not csrf:
        raise AccountError(f"{path.split('?')[0]} set no CSRF cookie")
    return client.post(path, data={**data, "csrfmiddlewaretoken": csrf})


@contextlib.contextmanager
def login_session(
    url: str, email: str, password: str, timeout_s: float = 30
) -> Iterator[httpx.Client]:
    """An httpx client logged in to Label Studio through its login form (session cookie)."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=timeout_s) as client:
        response = _post_form(client, "/user/login/", {"email": email, "password": password})
        if response.status_code != 302:
            raise AccountError(f"Label Studio refused the login of {email}")
        whoami = client.get("/api/current-user/whoami")
        if whoami.status_code != 200 or whoami.json().get("email") != email.lower():
            raise AccountError(f"the login of {email} did not open a session")
        yield client


def create_personal_access_token(url: str, email: str, password: str) -> str:
    """Log in and create the account's personal access token (a JWT refresh token)."""
    with login_session(url, email, password) as session:
        headers = {"X-CSRFToken": session.cookies.get("csrftoken") or ""}
        response = session.post("/api/token/", headers=headers)
        if response.status_code == 409:
            raise AccountError(
                f"{email} already has a personal access token that is not in the credentials "
                "file: revoke it in Label Studio (Account & Settings > Personal Access Token), "
                "then start again"
            )
        if response.status_code != 201:
            raise AccountError(f"creating an access token answered HTTP {response.status_code}")
        return str(response.json()["token"])


def signup_with_invite(url: str, invite_path: str, email: str, password: str) -> None:
    """Create an account through an organisation invite link (the signup form)."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
        response = _post_form(client, invite_path, {"email": email, "password": password})
        if response.status_code == 403:
            raise AccountError("Label Studio refused the invite link (expired or reset?)")
        if response.status_code != 302:
            raise AccountError(f"signing up {email} failed: {_form_errors(response.text)}")
