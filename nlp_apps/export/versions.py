"""Versioned export folders, as TF Serving and Triton read them: `<model base>/<N>/`.

`nlp-apps export` writes `saved_models/<model name>/<N>/` with N the next free
integer (or `--version N`). TF Serving's file-system source treats only
folders named by an integer as versions and serves the highest one, so a
whole version is built and verified in a hidden temporary folder next to the
numbered ones (`.export-tmp-<pid>-<random>`, which no server looks at) and
renamed to its number at the end: a half-written export is never visible
under an integer name, and `saved_models/<model name>/` can be handed to
`tensorflow_model_server --model_base_path` as it is.

A version, once written, is not replaced: a server may be serving it.
Temporary folders left by a killed export (its process is gone) are removed
by the next export of the same model.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from pathlib import Path

from nlp_apps.export.atomic import _current_umask

_VERSION_NAME = re.compile(r"^[0-9]+$")
_TEMPORARY_PREFIX = ".export-tmp-"


def existing_versions(model_base) -> list[int]:
    """The integer versions under `model_base`, ascending ([] if it does not exist)."""
    base = Path(model_base)
    if not base.is_dir():
        return []
    return sorted(int(path.name) for path in base.iterdir() if path.is_dir() and _VERSION_NAME.match(path.name))


def latest_version_dir(model_base) -> Path:
    """The highest-numbered version folder under `model_base` (what TF Serving serves by default).

    A path that is itself a version folder (holds `manifest.json` or
    `saved_model.pb`) is returned as it is.

    Raises:
        ValueError: `model_base` holds no version, naming the folder.
    """
    base = Path(model_base)
    if (base / "manifest.json").is_file() or (base / "saved_model.pb").is_file():
        return base
    versions = existing_versions(base)
    if not versions:
        raise ValueError(f"{base}: no exported version (no folder named by an integer); run `nlp-apps export -c CONFIG` first")
    return base / str(versions[-1])


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(model_base) -> list[str]:
    """Deletes the temporary folders of exports whose process no longer runs; returns their names."""
    base = Path(model_base)
    removed = []
    if not base.is_dir():
        return removed
    for path in base.iterdir():
        if not path.name.startswith(_TEMPORARY_PREFIX):
            continue
        pid_text = path.name[len(_TEMPORARY_PREFIX):].split("-", 1)[0]
        if pid_text.isdigit() and _process_alive(int(pid_text)) and int(pid_text) != os.getpid():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return removed


def check_requested_version(model_base, version: int | None) -> int:
    """The version an export will get: `version`, or the next free integer.

    Raises:
        ValueError: `version` is not a positive integer, or already exists
            (versions are never replaced; the message says what to do).
    """
    base = Path(model_base)
    if version is None:
        return max(existing_versions(base), default=0) + 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"--version: expected an integer >= 1, got {version!r}")
    if (base / str(version)).exists():
        raise ValueError(
            f"--version {version}: {base / str(version)} already exists; a written version is never replaced "
            "(a server may be serving it): give another number, or leave --version out for the next free one"
        )
    return version


@contextlib.contextmanager
def new_version_dir(model_base, version: int | None = None):
    """Yields `(temporary_dir, version)`; on success the folder becomes `<model_base>/<version>`.

    If the `with` body raises (verification failed, the process is
    interrupted), the temporary folder is removed and no version appears.

    Raises:
        ValueError: see `check_requested_version`; or the version was taken
            by another export while this one ran.
    """
    base = Path(model_base)
    base.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(base)
    number = check_requested_version(base, version)
    temporary = base / f"{_TEMPORARY_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temporary.mkdir()
    os.chmod(temporary, 0o777 & ~_current_umask())
    try:
        yield temporary, number
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    final = base / str(number)
    if final.exists():
        shutil.rmtree(temporary, ignore_errors=True)
        raise ValueError(f"{final}: another export wrote this version meanwhile; export again for the next free number")
    os.rename(temporary, final)
