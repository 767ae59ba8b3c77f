"""Versioned export folders (`saved_models/<name>/<N>/`), as TF Serving reads them."""

import os
import subprocess
import sys

import pytest

from nlp_apps.export.versions import (
    check_requested_version,
    existing_versions,
    latest_version_dir,
    new_version_dir,
    remove_stale_temporaries,
)


def test_versions_count_up_and_only_integer_folders_are_versions(tmp_path):
    base = tmp_path / "ner"
    for expected in (1, 2):
        with new_version_dir(base) as (folder, number):
            assert number == expected
            (folder / "saved_model.pb").write_bytes(b"x")
            # While it is being written the version is not visible under its number.
            assert not (base / str(number)).exists()
            assert existing_versions(base) == list(range(1, expected))
    (base / "notes").mkdir()
    assert existing_versions(base) == [1, 2]
    assert latest_version_dir(base) == base / "2"
    assert latest_version_dir(base / "1") == base / "1"


def test_explicit_version_is_used_and_never_replaced(tmp_path):
    base = tmp_path / "ner"
    with new_version_dir(base, version=7) as (folder, number):
        assert number == 7
        (folder / "manifest.json").write_text("{}")
    with new_version_dir(base) as (_, number):
        assert number == 8
    with pytest.raises(ValueError, match=r"--version 7: .* already exists; a written version is never replaced"):
        check_requested_version(base, 7)
    for bad in (0, -1, True, "3"):
        with pytest.raises(ValueError, match="--version: expected an integer >= 1"):
            check_requested_version(base, bad)


def test_a_failed_export_leaves_no_version_and_no_temporary_folder(tmp_path):
    base = tmp_path / "ner"
    with pytest.raises(RuntimeError):
        with new_version_dir(base) as (folder, _):
            (folder / "saved_model.pb").write_bytes(b"half")
            raise RuntimeError("verification failed")
    assert sorted(os.listdir(base)) == []
    with pytest.raises(ValueError, match="no exported version"):
        latest_version_dir(base)


def test_temporary_folders_of_killed_exports_are_removed(tmp_path):
    base = tmp_path / "ner"
    base.mkdir()
    # A process that has exited: its pid is free (not reused this fast).
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = base / f".export-tmp-{dead.stdout.strip()}-abcd1234"
    stale.mkdir()
    (stale / "saved_model.pb").write_bytes(b"half")
    alive = base / f".export-tmp-{os.getppid()}-abcd1234"
    alive.mkdir()
    assert remove_stale_temporaries(base) == [stale.name]
    assert alive.is_dir() and not stale.exists()
