"""Where one managed Label Studio server keeps its data, how it is reached, which venv runs it.

Label Studio pins packages that clash with ours (pyarrow, pytz, Django...), so it lives in a
separate virtual environment and Bayesline talks to it only over HTTP (label-studio-sdk 2.x):
installing it is labeling/install.py, running it labeling/process.py, talking to it
labeling/client.py. The server keeps its SQLite database, media and logs under `data_dir`; the
admin's password and API token are in `data_dir/credentials.json` (mode 0600) and nowhere else.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from deployment.errors import BayeslineError
from deployment.settings import label_studio_environment
from warehouse.layout import WarehouseLayout

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = Path(__file__).with_name("requirements-labelstudio.txt")
DEFAULT_PORT = 8089
# Inherited variables the server may see; Label Studio reads many bare names (HOST, PORT,
# USERNAME, PASSWORD, DEBUG, CI, SECRET_KEY...) as settings, so everything else is dropped.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


class LabelStudioError(BayeslineError):
    """Label Studio could not be started, reached or configured."""


class LabelStudioInstallError(LabelStudioError):
    """The separate Label Studio virtual environment could not be installed."""


@dataclass(frozen=True)
class LabelStudioSettings:
    """Where one Label Studio server keeps its data, how it is reached, which venv runs it."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    venv: Path = REPO_ROOT / ".venv-labelstudio"
    document_root: Path = field(default_factory=lambda: WarehouseLayout.from_env().home)
    requirements: Path = REQUIREMENTS
    #: Another Label Studio to label in (LABEL_STUDIO_URL), instead of the managed one.
    external_url: str | None = None
    #: Its API key (LABEL_STUDIO_API_KEY); None: the token stored at the managed server's start.
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("data_dir", "venv", "document_root", "requirements"):
            object.__setattr__(self, name, Path(getattr(self, name)).resolve())
        host = "127.0.0.1" if self.host == "localhost" else self.host
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"Label Studio must listen on a loopback address, not {self.host}")

    @classmethod
    def from_env(cls) -> LabelStudioSettings:
        """BAYESLINE_HOME/labelstudio, port BAYESLINE_LABELSTUDIO_PORT, venv override."""
        home = WarehouseLayout.from_env().home
        env = label_studio_environment()
        return cls(
            data_dir=home / "labelstudio",
            port=env.port or DEFAULT_PORT,
            venv=env.venv or REPO_ROOT / ".venv-labelstudio",
            document_root=home,
            external_url=env.url,
            api_key=env.api_key,
        )

    @property
    def url(self) -> str:
        """The managed server's URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "label-studio"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "credentials.json"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "server.pid"


def passed_env() -> dict[str, str]:
    """The inherited variables the server and its installer may see (PASSED_ENV)."""
    return {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
