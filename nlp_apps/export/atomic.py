"""Write-then-rename output paths, so that no half-written export is ever left behind.

Both context managers yield a temporary path *next to* the final one (same
directory, hence same filesystem, so the final rename is a metadata operation).
If the `with` body raises, the temporary path is removed and whatever was at the
final path before is left untouched. If it succeeds, the temporary path takes the
final name:

    with atomic_output_dir("saved_models/sentiment/saved_model") as tmp:
        tf.saved_model.save(module, tmp)

    with atomic_output_file("saved_models/sentiment/model.keras") as tmp:
        model.save(tmp)

Files are replaced with `os.replace`, which is atomic on POSIX. Directories
cannot be swapped atomically with the standard library, so an existing directory
is first renamed aside, the new one renamed in, and the old one deleted. Between
those two renames (microseconds) the final path does not exist; a crash exactly
there leaves the previous version under `.<name>.old-<random>` next to it,
never a mixture of old and new files.
"""

import contextlib
import os
import shutil
import tempfile
import uuid


def _current_umask():
    # os.umask can only be read by setting it; restore it immediately.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _prepare_parent(final_path, kind):
    final_path = os.path.abspath(os.fspath(final_path))
    parent, name = os.path.split(final_path)
    if not name:
        raise ValueError(f"atomic_output_{kind}: '{final_path}' has no final path component.")
    os.makedirs(parent, exist_ok=True)
    return final_path, parent, name


@contextlib.contextmanager
def atomic_output_dir(final_path):
    """Yields a fresh temporary directory that replaces `final_path` on success.

    Args:
        final_path: str or path-like. Directory to create or replace. Its parent
            directories are created if needed.

    Yields:
        str. Absolute path of an empty directory next to `final_path`. Write the
        whole artifact into it.

    Raises:
        ValueError: `final_path` exists and is not a directory.
    """
    final_path, parent, name = _prepare_parent(final_path, "dir")
    if os.path.lexists(final_path) and not os.path.isdir(final_path):
        raise ValueError(f"atomic_output_dir: '{final_path}' exists and is not a directory.")
    temporary = tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent)
    # mkdtemp creates the directory private (0700); an exported model should get
    # the permissions a plain mkdir would have given it.
    os.chmod(temporary, 0o777 & ~_current_umask())
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise

    if not os.path.isdir(temporary):
        raise ValueError(
            f"atomic_output_dir: the temporary directory for '{final_path}' was removed "
            "inside the `with` block; nothing was written."
        )
    previous = None
    if os.path.lexists(final_path):
        previous = os.path.join(parent, f".{name}.old-{uuid.uuid4().hex[:12]}")
        os.rename(final_path, previous)
    try:
        os.rename(temporary, final_path)
    except BaseException:
        # Put the previous version back so that a failed commit changes nothing.
        if previous is not None:
            os.rename(previous, final_path)
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


@contextlib.contextmanager
def atomic_output_file(final_path):
    """Yields a temporary file path that atomically replaces `final_path` on success.

    Args:
        final_path: str or path-like. File to create or replace. Its parent
            directories are created if needed.

    Yields:
        str. Absolute path of an (existing, empty) file next to `final_path`,
        with the same suffix, since some writers check it (Keras insists on
        `.keras`). Write to it by path; overwriting it is fine.

    Raises:
        ValueError: `final_path` is an existing directory, or the temporary
            file is missing when the `with` block ends.
    """
    final_path, parent, name = _prepare_parent(final_path, "file")
    if os.path.isdir(final_path):
        raise ValueError(f"atomic_output_file: '{final_path}' is a directory.")
    suffix = os.path.splitext(name)[1]
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.tmp-", suffix=suffix, dir=parent)
    os.close(handle)
    try:
        yield temporary
        if not os.path.isfile(temporary):
            raise ValueError(
                f"atomic_output_file: the temporary file for '{final_path}' is missing "
                "at the end of the `with` block; nothing was written."
            )
        # mkstemp creates the file private (0600); give it ordinary permissions.
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, final_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
