"""How a store writes a file: never half of one, never someone else's, never silently.

Every file goes to a temporary name that says which writer owns it
(``.seqsim-tmp.<owner>.<final name>``, see :mod:`seqsim.store.locks`), is flushed to disk and
renamed into place, so a reader sees the old file or the whole new one. Files are created with
mode 0666 less the umask, like any other program's, so a group can share a store. A full disk
or a read-only folder becomes one :class:`StoreWriteError` that names the file (and, for a full
disk, the space needed and the space free), with the temporary file removed.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".seqsim-tmp."
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class StoreError(Exception):
    """A store that cannot be used as asked; the message names the store or file."""


class StoreWriteError(StoreError):
    """A store file could not be written (read-only folder, permissions, ...)."""


class StoreFullError(StoreWriteError):
    """The disk (or quota) under a store is full."""


def temporary_path(final: Path, owner: str) -> Path:
    """Where ``owner`` writes ``final`` before renaming it into place."""
    return final.with_name(f"{TEMP_PREFIX}{owner}.{final.name}")


def temporary_owner(path: Path) -> str | None:
    """The owner named by a temporary file of ours, or None for any other file."""
    if not path.name.startswith(TEMP_PREFIX):
        return None
    owner, _, final = path.name[len(TEMP_PREFIX) :].partition(".")
    return owner if owner and final else None


def human_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    if count < 1024:
        return f"{count:.0f} B"
    exponent = min(3, int(math.log(count, 1024)))
    return f"{count / 1024**exponent:.1f} {('KiB', 'MiB', 'GiB')[exponent - 1]}"


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def write_error(path: Path, error: OSError, needed: int) -> StoreWriteError:
    """A one-line error for a failed write of ``path`` (``needed`` bytes)."""
    if error.errno in _NO_SPACE:
        return StoreFullError(
            f"{path}: no space left on device: writing it needs {human_bytes(needed)}, "
            f"{human_bytes(free_bytes(path.parent))} free; free some space and run again "
            "(finished work is kept)"
        )
    return StoreWriteError(f"{path}: cannot write: {error.strerror or error}")


def check_free_space(path: Path, needed: int) -> None:
    """Raise :class:`StoreFullError` before writing ``needed`` bytes to ``path`` if they do not
    fit (a memory-mapped or sparse file would otherwise fail later, or kill the process)."""
    free = free_bytes(path.parent)
    if needed > free:
        raise StoreFullError(
            f"{path}: no space left on device: writing it needs {human_bytes(needed)}, "
            f"{human_bytes(free)} free; free some space and run again (finished work is kept)"
        )


def create_file(path: Path) -> BinaryIO:
    """A new file opened for writing, mode 0666 less the umask (``tempfile`` would give 0600)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    return os.fdopen(descriptor, "wb")


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(
    path: Path,
    owner: str,
    write: Callable[[BinaryIO], None],
    *,
    needed: int,
    replace: bool = True,
) -> bool:
    """Write ``path`` through ``write(handle)`` via ``owner``'s temporary file.

    ``needed`` (bytes, an estimate) is checked against the free space first and named in a
    disk-full error. ``replace=False`` never overwrites: it returns False when ``path``
    exists already (another writer was first). Any failure removes the temporary file.
    """
    temporary = temporary_path(path, owner)
    try:
        check_free_space(path, needed)
        with create_file(temporary) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
    except OSError as error:
        raise write_error(path, error, needed) from None
    finally:
        temporary.unlink(missing_ok=True)
    sync_folder(path.parent)
    return True


def write_text_atomically(path: Path, owner: str, text: str, *, replace: bool = True) -> bool:
    data = text.encode("utf-8")

    def write(handle: BinaryIO) -> None:
        handle.write(data)

    return write_atomically(path, owner, write, needed=len(data), replace=replace)


def make_folder(folder: Path) -> None:
    """``mkdir -p`` with a one-line error naming the folder."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreWriteError(f"{folder}: cannot create the folder: {error.strerror}") from None
