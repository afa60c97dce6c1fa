"""Where Bayesline runs: on a laptop (the default) or as a team deployment on PostgreSQL, with
the lake on a local disk (the default) or on S3-compatible object storage.

This module is the one place that says which. With a PostgreSQL server configured, the Dagster
instance keeps its runs, event logs and schedules there, and every lake write takes a
PostgreSQL advisory lock, so the single-writer guarantee holds across machines. Without one,
nothing changes: SQLite under DAGSTER_HOME and a file lock in BAYESLINE_HOME.

The server comes from BAYESLINE_POSTGRES_URL (`postgresql://user@host:port/database`, never
with a password), or from the file `bayesline team up` writes for its private cluster. The
password comes from BAYESLINE_POSTGRES_PASSWORD or from a 0600 pgpass file named by
BAYESLINE_POSTGRES_PASSFILE: never from a URL, which ends up in logs.

The lake moves to object storage with BAYESLINE_LAKE_URL=s3://bucket/prefix. Endpoint, region
and keys come from the variables every S3 client already reads (AWS_ENDPOINT_URL, AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never from the URL. Unset, the lake is the folder
BAYESLINE_HOME/lake, exactly as before.

Every other environment variable Bayesline reads is read here too (the functions after
LakeSettings), so a newcomer finds each one, its default and its meaning in one file.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from deployment.errors import BayeslineError

POSTGRES_URL_ENV = "BAYESLINE_POSTGRES_URL"
POSTGRES_PASSWORD_ENV = "BAYESLINE_POSTGRES_PASSWORD"
POSTGRES_PASSFILE_ENV = "BAYESLINE_POSTGRES_PASSFILE"
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
LAKE_URL_ENV = "BAYESLINE_LAKE_URL"
S3_ENDPOINT_ENV = "AWS_ENDPOINT_URL"
S3_REGION_ENV = "AWS_REGION"
S3_KEY_ENV = "AWS_ACCESS_KEY_ID"
S3_SECRET_ENV = "AWS_SECRET_ACCESS_KEY"


class DeploymentError(BayeslineError, ValueError):
    """The deployment settings are wrong or their server is unreachable; says what to do."""


@dataclass(frozen=True)
class PostgresSettings:
    """One PostgreSQL database serving a team: Dagster's storage and the lake writer lock."""

    host: str
    port: int
    user: str
    database: str
    #: A pgpass file (mode 0600) holding the password; None when it is in the environment.
    passfile: Path | None = None
    #: Where the settings came from, for error messages.
    origin: str = POSTGRES_URL_ENV

    @property
    def password_in_env(self) -> bool:
        return bool(os.environ.get(POSTGRES_PASSWORD_ENV))

    def describe(self) -> str:
        """user@host:port/database: what the server is, without the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    def connect_kwargs(self, application_name: str) -> dict[str, object]:
        """Keyword arguments for psycopg2.connect (libpq reads the passfile itself)."""
        kwargs: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.database,
            "connect_timeout": 10,
            "application_name": application_name,
        }
        if self.password_in_env:
            kwargs["password"] = os.environ[POSTGRES_PASSWORD_ENV]
        elif self.passfile is not None:
            kwargs["passfile"] = str(self.passfile)
        return kwargs


def team_settings_path(home: Path) -> Path:
    """The file `bayesline team up` writes: its cluster's URL and passfile, no password."""
    return home / "team" / "postgres.json"


def postgres_settings(home: Path) -> PostgresSettings | None:
    """The team's PostgreSQL, or None on a laptop. BAYESLINE_POSTGRES_URL wins over the
    cluster `bayesline team up` started under `home` (BAYESLINE_HOME)."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if url:
        passfile = os.environ.get(POSTGRES_PASSFILE_ENV, "").strip()
        return parse_postgres_url(url, Path(passfile) if passfile else None, POSTGRES_URL_ENV)
    recorded = team_settings_path(home)
    if not recorded.is_file():
        return None
    try:
        saved = json.loads(recorded.read_text())
        return parse_postgres_url(saved["url"], Path(saved["passfile"]), str(recorded))
    except (ValueError, KeyError) as exc:
        raise DeploymentError(
            f"{recorded} is damaged ({exc}): run `bayesline team up` to write it again."
        ) from exc


def parse_postgres_url(url: str, passfile: Path | None, origin: str) -> PostgresSettings:
    """Check a `postgresql://user@host:port/database` URL and its passfile."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname or not parts.username:
        raise DeploymentError(
            f"{origin} must look like postgresql://user@host:5432/database, not {_redacted(url)}."
        )
    if parts.password is not None:
        raise DeploymentError(
            f"{origin} holds a password: take it out of the URL (URLs end up in logs) and put "
            f"it in {POSTGRES_PASSWORD_ENV} or in a 0600 pgpass file named by "
            f"{POSTGRES_PASSFILE_ENV}."
        )
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise DeploymentError(f"{origin} names no database: add it, as in .../dagster.")
    if passfile is not None:
        _check_passfile(passfile.resolve())
    return PostgresSettings(
        host=parts.hostname,
        port=parts.port or 5432,
        user=unquote(parts.username),
        database=database,
        passfile=passfile.resolve() if passfile else None,
        origin=origin,
    )


def _check_passfile(path: Path) -> None:
    if not path.is_file():
        raise DeploymentError(
            f"The PostgreSQL password file {path} does not exist: write it (pgpass format, "
            f"host:port:database:user:password) or set {POSTGRES_PASSWORD_ENV}."
        )
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise DeploymentError(
            f"The PostgreSQL password file {path} can be read by others: `chmod 600 {path}`."
        )


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return repr(url)
    return repr(url.replace(f":{parts.password}@", ":***@", 1))


@dataclass(frozen=True)
class LakeSettings:
    """A lake on S3-compatible object storage: where it is, and how to reach it (the keys stay
    in the environment, so no repr, log line or error message can show them)."""

    bucket: str
    prefix: str
    #: None for AWS itself; http(s)://host:port for any other S3-compatible server.
    endpoint: str | None
    region: str | None

    @property
    def url(self) -> str:
        """s3://bucket/prefix, the lake's root (without a trailing slash)."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def describe(self) -> str:
        """The lake's URL and endpoint, for messages: no keys."""
        return f"{self.url} at {self.endpoint or 'AWS'}"

    def filesystem_options(self) -> dict[str, object]:
        """Keyword arguments for s3fs.S3FileSystem, keys read from the environment now."""
        client: dict[str, object] = {}
        if self.region:
            client["region_name"] = self.region
        return {
            "key": os.environ[S3_KEY_ENV],
            "secret": os.environ[S3_SECRET_ENV],
            "endpoint_url": self.endpoint,
            "client_kwargs": client,
        }


def lake_settings() -> LakeSettings | None:
    """The lake's object storage from BAYESLINE_LAKE_URL, or None for the local lake."""
    url = os.environ.get(LAKE_URL_ENV, "").strip()
    if not url:
        return None
    return parse_lake_url(url)


def parse_lake_url(url: str) -> LakeSettings:
    """Check an s3://bucket/prefix URL and that the environment has the keys to reach it."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.hostname:
        raise DeploymentError(
            f"{LAKE_URL_ENV} must look like s3://bucket/prefix, not {_redacted(url)}; "
            "unset it to keep the lake in BAYESLINE_HOME/lake."
        )
    if parts.username or parts.password:
        raise DeploymentError(
            f"{LAKE_URL_ENV} holds credentials: take them out of the URL (URLs end up in logs) "
            f"and set {S3_KEY_ENV} and {S3_SECRET_ENV} instead."
        )
    missing = [name for name in (S3_KEY_ENV, S3_SECRET_ENV) if not os.environ.get(name)]
    if missing:
        raise DeploymentError(
            f"{LAKE_URL_ENV} puts the lake on {url}, but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: export the storage's keys "
            f"(and {S3_ENDPOINT_ENV} for a server other than AWS)."
        )
    endpoint = os.environ.get(S3_ENDPOINT_ENV, "").strip() or None
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        raise DeploymentError(
            f"{S3_ENDPOINT_ENV} must look like https://host:port, not {endpoint!r}."
        )
    return LakeSettings(
        bucket=parts.hostname,
        prefix=unquote(parts.path).strip("/"),
        endpoint=endpoint,
        region=os.environ.get(S3_REGION_ENV, "").strip() or None,
    )


# The process's own settings: each variable Bayesline reads, read by one function here.
HOME_ENV = "BAYESLINE_HOME"
CONFIG_ENV = "BAYESLINE_CONFIG"
ENGINE_ENV = "BAYESLINE_ENGINE"
MEMORY_LIMIT_ENV = "BAYESLINE_MEMORY_LIMIT"
SPARK_MASTER_ENV = "BAYESLINE_SPARK_MASTER"
POSTGRES_PORT_ENV = "BAYESLINE_POSTGRES_PORT"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
ANNOTATION_POLL_ENV = "BAYESLINE_ANNOTATION_POLL_S"
PAUSE_AT_ENV = "BAYESLINE_PAUSE_AT"
PAUSE_MARKER_ENV = "BAYESLINE_PAUSE_MARKER"
LABEL_STUDIO_URL_ENV = "LABEL_STUDIO_URL"
LABEL_STUDIO_API_KEY_ENV = "LABEL_STUDIO_API_KEY"
LABEL_STUDIO_USERNAME_ENV = "LABEL_STUDIO_USERNAME"
LABEL_STUDIO_PASSWORD_ENV = "LABEL_STUDIO_PASSWORD"
LABELSTUDIO_VENV_ENV = "BAYESLINE_LABELSTUDIO_VENV"
LABELSTUDIO_PORT_ENV = "BAYESLINE_LABELSTUDIO_PORT"


def env_value(name: str) -> str | None:
    """The variable's value without surrounding blanks; None when unset or blank."""
    return os.environ.get(name, "").strip() or None


def bayesline_home() -> Path:
    """BAYESLINE_HOME, where a warehouse keeps its files; default ./data, made absolute."""
    return Path(env_value(HOME_ENV) or "data").resolve()


def config_path() -> Path:
    """The dataset description: BAYESLINE_CONFIG, default ./bayesline.toml."""
    return Path(env_value(CONFIG_ENV) or "bayesline.toml")


def engine_name() -> str | None:
    """BAYESLINE_ENGINE as given (warehouse.config.compute_engine checks it)."""
    return env_value(ENGINE_ENV)


def memory_limit() -> str | None:
    """BAYESLINE_MEMORY_LIMIT, DuckDB's memory cap ('6GB'); None for the built-in default."""
    return env_value(MEMORY_LIMIT_ENV)


def spark_master() -> str | None:
    """BAYESLINE_SPARK_MASTER, the Spark master URL; None for local mode."""
    return env_value(SPARK_MASTER_ENV)


def java_home() -> str | None:
    return env_value("JAVA_HOME")


def postgres_port() -> int | None:
    """BAYESLINE_POSTGRES_PORT: the port of `bayesline team up`'s cluster; None for a free one."""
    value = env_value(POSTGRES_PORT_ENV)
    return int(value) if value else None


def dagster_home() -> Path | None:
    return Path(value) if (value := env_value(DAGSTER_HOME_ENV)) else None


def annotation_poll_seconds(default: int) -> int:
    """BAYESLINE_ANNOTATION_POLL_S when it is a positive whole number, else `default`."""
    value = env_value(ANNOTATION_POLL_ENV) or ""
    return int(value) if value.isdigit() and int(value) > 0 else default


def login_user() -> str | None:
    """$USER, for records of who decided (when the passwd database cannot say)."""
    return env_value("USER")


@dataclass(frozen=True)
class PausePoint:
    """Where a fault test asked a run to stop (BAYESLINE_PAUSE_AT) and the file to say so in."""

    name: str
    marker: Path


def pause_point_requested() -> PausePoint | None:
    name, marker = env_value(PAUSE_AT_ENV), env_value(PAUSE_MARKER_ENV)
    return PausePoint(name, Path(marker)) if name and marker else None


@dataclass(frozen=True)
class LabelStudioEnvironment:
    """What the environment says about Label Studio: an external server (URL and API key),
    or the managed one's port and virtualenv."""

    url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    port: int | None = None
    venv: Path | None = None


def label_studio_environment() -> LabelStudioEnvironment:
    port = env_value(LABELSTUDIO_PORT_ENV)
    venv = env_value(LABELSTUDIO_VENV_ENV)
    return LabelStudioEnvironment(
        url=env_value(LABEL_STUDIO_URL_ENV),
        api_key=env_value(LABEL_STUDIO_API_KEY_ENV),
        port=int(port) if port else None,
        venv=Path(venv).resolve() if venv else None,
    )


def label_studio_admin_login() -> dict[str, str]:
    """LABEL_STUDIO_USERNAME and LABEL_STUDIO_PASSWORD, those that are set: the admin a first
    start of the managed server creates."""
    names = (LABEL_STUDIO_USERNAME_ENV, LABEL_STUDIO_PASSWORD_ENV)
    return {name: os.environ[name] for name in names if name in os.environ}
