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
    """A store that cannot be used as asked; the message names the store or file.

    The base of every store error: :class:`StoreWriteError` (and :class:`StoreFullError`),
    :class:`~seqsim.store.StoreBusyError`, :class:`~seqsim.store.CorruptShardError` and
    :class:`~seqsim.store.StoreMismatchError`.

    Examples
    --------
    >>> from seqsim.store import StoreError, StoreFullError, StoreWriteError
    >>> issubclass(StoreFullError, StoreWriteError) and issubclass(StoreWriteError, StoreError)
    True
    """


class StoreWriteError(StoreError):
    """A store file could not be written (read-only folder, permissions, ...).

    Examples
    --------
    >>> import errno
    >>> from pathlib import Path
    >>> from seqsim.store.files import write_error
    >>> write_error(Path("store/store.json"), OSError(errno.EACCES, "Permission denied"), 10)
    StoreWriteError('store/store.json: cannot write: Permission denied')
    """


class StoreFullError(StoreWriteError):
    """The disk (or quota) under a store is full; the message says how much space is needed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import check_free_space
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     check_free_space(Path(folder) / "layer_6.npy", 2**70)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.store.files.StoreFullError: /.../layer_6.npy: no space left on device: ...
    """


def temporary_path(final: Path, owner: str) -> Path:
    """Where ``owner`` writes ``final`` before renaming it into place.

    Parameters
    ----------
    final : pathlib.Path
        The file to write.
    owner : str
        The writer's owner name (see :func:`seqsim.store.locks.owner`); it has no ``.``.

    Returns
    -------
    pathlib.Path
        ``.seqsim-tmp.<owner>.<final name>`` next to ``final``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.store.files import temporary_path
    >>> str(temporary_path(Path("store/shards/a.npz"), "host-41-0f3c"))
    'store/shards/.seqsim-tmp.host-41-0f3c.a.npz'
    """
    return final.with_name(f"{TEMP_PREFIX}{owner}.{final.name}")


def temporary_owner(path: Path) -> str | None:
    """The owner named by a temporary file of ours, or None for any other file.

    Parameters
    ----------
    path : pathlib.Path
        Any file.

    Returns
    -------
    str or None
        The inverse of :func:`temporary_path`.

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.store.files import temporary_owner
    >>> temporary_owner(Path(".seqsim-tmp.host-41-0f3c.a.npz")), temporary_owner(Path("a.npz"))
    ('host-41-0f3c', None)
    """
    if not path.name.startswith(TEMP_PREFIX):
        return None
    owner, _, final = path.name[len(TEMP_PREFIX) :].partition(".")
    return owner if owner and final else None


def human_bytes(count: float) -> str:
    """A byte count for people: B, KiB, MiB or GiB.

    Parameters
    ----------
    count : float
        Bytes (not negative).

    Returns
    -------
    str
        Whole bytes below 1 KiB, else one decimal.

    Examples
    --------
    >>> from seqsim.store.files import human_bytes
    >>> human_bytes(512), human_bytes(1536), human_bytes(3 * 2**30)
    ('512 B', '1.5 KiB', '3.0 GiB')
    """
    if count < 1024:
        return f"{count:.0f} B"
    exponent = min(3, int(math.log(count, 1024)))
    return f"{count / 1024**exponent:.1f} {('KiB', 'MiB', 'GiB')[exponent - 1]}"


def free_bytes(folder: Path) -> int:
    """Bytes free for this user on the filesystem of ``folder`` (which must exist).

    Parameters
    ----------
    folder : pathlib.Path
        An existing folder.

    Returns
    -------
    int
        ``shutil.disk_usage(folder).free``.

    Raises
    ------
    OSError
        When ``folder`` does not exist or cannot be queried.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import free_bytes
    >>> free_bytes(Path(tempfile.gettempdir())) > 0
    True
    """
    return shutil.disk_usage(folder).free


def write_error(path: Path, error: OSError, needed: int) -> StoreWriteError:
    """A one-line error for a failed write of ``path`` (``needed`` bytes).

    Parameters
    ----------
    path : pathlib.Path
        The file that could not be written (its folder must exist).
    error : OSError
        What the write raised.
    needed : int
        Bytes the write needed, named in a disk-full message.

    Returns
    -------
    StoreWriteError
        A :class:`StoreFullError` for a full disk or quota (with the space needed and the
        space free), else a :class:`StoreWriteError` with the system's reason.

    Examples
    --------
    >>> import errno
    >>> from pathlib import Path
    >>> from seqsim.store.files import write_error
    >>> write_error(Path("store/store.json"), OSError(errno.EROFS, "Read-only file system"), 10)
    StoreWriteError('store/store.json: cannot write: Read-only file system')
    """
    if error.errno in _NO_SPACE:
        return StoreFullError(
            f"{path}: no space left on device: writing it needs {human_bytes(needed)}, "
            f"{human_bytes(free_bytes(path.parent))} free; free some space and run again "
            "(finished work is kept)"
        )
    return StoreWriteError(f"{path}: cannot write: {error.strerror or error}")


def check_free_space(path: Path, needed: int) -> None:
    """Raise :class:`StoreFullError` before writing ``needed`` bytes to ``path`` if they do not fit.

    A memory-mapped or sparse file would otherwise fail later, or kill the process.

    Parameters
    ----------
    path : pathlib.Path
        The file about to be written (its folder must exist).
    needed : int
        Bytes it needs.

    Raises
    ------
    StoreFullError
        Naming ``path``, the space needed and the space free.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import check_free_space
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     check_free_space(Path(folder) / "index.json", 1024)
    """
    free = free_bytes(path.parent)
    if needed > free:
        raise StoreFullError(
            f"{path}: no space left on device: writing it needs {human_bytes(needed)}, "
            f"{human_bytes(free)} free; free some space and run again (finished work is kept)"
        )


def create_file(path: Path) -> BinaryIO:
    """A new file opened for writing, mode 0666 less the umask (``tempfile`` would give 0600).

    Parameters
    ----------
    path : pathlib.Path
        The file; truncated if it exists.

    Returns
    -------
    BinaryIO
        The open file.

    Raises
    ------
    OSError
        When it cannot be created.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import create_file
    >>> umask = os.umask(0o022); _ = os.umask(umask)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with create_file(Path(folder) / "a.bin") as handle:
    ...         _ = handle.write(b"abc")
    ...     os.stat(Path(folder) / "a.bin").st_mode & 0o777 == 0o666 & ~umask
    True
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    return os.fdopen(descriptor, "wb")


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (``fsync`` of the folder).

    Parameters
    ----------
    folder : pathlib.Path
        An existing folder.

    Raises
    ------
    OSError
        When the folder cannot be opened.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import sync_folder
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     sync_folder(Path(folder))
    """
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

    The temporary file is flushed to disk and renamed into place (then the folder is synced),
    so a reader sees the old file or the whole new one. Any failure removes the temporary
    file.

    Parameters
    ----------
    path : pathlib.Path
        The file to write (its folder must exist).
    owner : str
        The writer's owner name, which names the temporary file (:func:`temporary_path`).
    write : callable
        ``write(handle)`` writes the contents to a binary file handle.
    needed : int
        Bytes, an estimate: checked against the free space first and named in a disk-full
        error.
    replace : bool, default True
        False never overwrites: nothing is written where ``path`` exists already (another
        writer was first).

    Returns
    -------
    bool
        True when ``path`` was written; False when ``replace=False`` found it there already.

    Raises
    ------
    StoreWriteError
        Naming ``path``, when it cannot be written; a :class:`StoreFullError` when the
        disk or quota is full, or ``needed`` bytes are not free.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import write_atomically
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "a.bin"
    ...     first = write_atomically(path, "me", lambda handle: handle.write(b"old"), needed=3)
    ...     second = write_atomically(
    ...         path, "me", lambda handle: handle.write(b"new"), needed=3, replace=False
    ...     )
    ...     print(first, second, path.read_bytes(), os.listdir(folder))
    True False b'old' ['a.bin']
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
    """:func:`write_atomically` for ``text``, encoded as UTF-8.

    Parameters
    ----------
    path : pathlib.Path
        The file to write (its folder must exist).
    owner : str
        The writer's owner name.
    text : str
        The contents.
    replace : bool, default True
        False never overwrites an existing ``path``.

    Returns
    -------
    bool
        True when ``path`` was written; False when ``replace=False`` found it there already.

    Raises
    ------
    StoreWriteError
        As :func:`write_atomically` raises it.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import write_text_atomically
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "store.json"
    ...     print(write_text_atomically(path, "me", "{}"), path.read_text())
    True {}
    """
    data = text.encode("utf-8")

    def write(handle: BinaryIO) -> None:
        handle.write(data)

    return write_atomically(path, owner, write, needed=len(data), replace=replace)


def make_folder(folder: Path) -> None:
    """``mkdir -p`` with a one-line error naming the folder.

    Parameters
    ----------
    folder : pathlib.Path
        The folder, created with its parents where missing.

    Raises
    ------
    StoreWriteError
        Naming the folder and the reason, when it cannot be created.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import make_folder
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     make_folder(Path(folder) / "store" / "shards")
    ...     _ = (Path(folder) / "file").write_text("")
    ...     make_folder(Path(folder) / "file" / "shards")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.store.files.StoreWriteError: /.../file/shards: cannot create the folder: ...
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreWriteError(f"{folder}: cannot create the folder: {error.strerror}") from None
