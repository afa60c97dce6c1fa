"""Pytest plugin: one real Label Studio server per test session (load with `-p` or conftest)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from labeling.install import ensure_installed
from labeling.process import ServerState, free_local_port, start, stop
from labeling.server_settings import LabelStudioInstallError, LabelStudioSettings

#: Variables that would point the fixture's clients or admin somewhere else.
LABEL_STUDIO_ENV = (
    "LABEL_STUDIO_URL",
    "LABEL_STUDIO_API_KEY",
    "LABEL_STUDIO_USERNAME",
    "LABEL_STUDIO_PASSWORD",
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the `labelstudio` marker (tests that need the real server)."""
    config.addinivalue_line("markers", "labelstudio: tests against a real Label Studio server")


@pytest.fixture(scope="session")
def labelstudio(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LabelStudioSettings, ServerState]]:
    """A running Label Studio (temp data dir, free port), always stopped at the end."""
    root: Path = tmp_path_factory.mktemp("labelstudio")
    settings = LabelStudioSettings(
        data_dir=root / "data",
        port=free_local_port(),
        venv=LabelStudioSettings.from_env().venv,
        document_root=root / "home",
    )
    settings.document_root.mkdir()
    try:
        ensure_installed(settings, progress=lambda _message: None)
    except LabelStudioInstallError as exc:
        if os.environ.get("BAYESLINE_REQUIRE_LABELSTUDIO"):
            pytest.fail(f"Label Studio could not be installed: {exc}")
        reason = str(exc).splitlines()[0]
        pytest.skip(
            f"Label Studio venv not installable here ({reason}); run "
            "`make labelstudio-install` with access to PyPI to enable these tests"
        )
    with pytest.MonkeyPatch.context() as env:
        for name in LABEL_STUDIO_ENV:
            env.delenv(name, raising=False)
        try:
            yield settings, start(settings)
        finally:
            stop(settings)
