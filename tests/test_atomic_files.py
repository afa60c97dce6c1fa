"""deployment/atomic_files: a replaced file is the old one or the new one, never a part."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from deployment.atomic_files import atomic_file, rename_durably, write_text_atomically


def test_a_private_file_is_its_owners_alone(tmp_path: Path) -> None:
    path = write_text_atomically(tmp_path / "secret.json", "{}\n", private=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="utf-8") == "{}\n"


def test_a_failed_write_leaves_the_old_file_and_no_staging(tmp_path: Path) -> None:
    path = write_text_atomically(tmp_path / "settings.json", "old")
    with pytest.raises(RuntimeError), atomic_file(path) as staging:
        staging.write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_a_folder_is_renamed_into_place(tmp_path: Path) -> None:
    staging = tmp_path / ".out.tmp"
    staging.mkdir()
    (staging / "data.txt").write_text("rows")
    rename_durably(staging, tmp_path / "out")
    assert (tmp_path / "out" / "data.txt").read_text() == "rows"
    assert not staging.exists()
