"""How a store writes a file: never half of one, never someone else's, never silently.

Every file goes to a temporary name that says which writer owns it
(``.seqsim-tmp.<owner>.<final name>``, see :mod:`seqsim.store.locks`), is flushed to disk and
renamed into place, so a reader sees the old file or the whole new one. Files are created with
mode 0666 less the umask, like any other program's, so a group can share a store. A full disk
or a read-only folder becomes one :class:`StoreWriteError` that names the file (and, for a full
disk, the space needed and the space free), with the temporary file removed. No symbolic link
is followed, to write or to read: a link planted where a store keeps a file or folder of its
own is a :class:`StoreLinkError` naming it, and what it points to is never touched.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".seqsim-tmp."
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class StoreError(Exception):
    """A store that cannot be used as asked; the message names the store or file.

    The base of every store error: :class:`StoreWriteError` (and :class:`StoreFullError`),
    :class:`StoreLinkError`, :class:`~seqsim.store.StoreBusyError`,
    :class:`~seqsim.store.CorruptShardError`, :class:`~seqsim.store.StoreCorruptError` and
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


class StoreLinkError(StoreError):
    """A symbolic link where a store keeps a file or folder of its own; the message names it.

    seqsim neither writes nor reads through such a link (a planted ``embed.lock`` pointing at
    a user's file would otherwise be overwritten); what the link points to is left alone.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import read_own_file
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     os.symlink("/etc/hostname", Path(folder) / "store.json")
    ...     read_own_file(Path(folder) / "store.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.store.files.StoreLinkError: /.../store.json: is a symbolic link; seqsim writes only ...
    """


def link_error(path: Path) -> StoreLinkError:
    """The error for a symbolic link found at ``path``, where seqsim keeps a file of its own.

    Parameters
    ----------
    path : pathlib.Path
        The link.

    Returns
    -------
    StoreLinkError
        Naming ``path``, and what to do.

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.store.files import link_error
    >>> print(link_error(Path("store/embed.lock")))  # doctest: +NORMALIZE_WHITESPACE
    store/embed.lock: is a symbolic link; seqsim writes only its own files here and follows
    no link in a store; remove the link (what it points to is left alone)
    """
    return StoreLinkError(
        f"{path}: is a symbolic link; seqsim writes only its own files here and follows no "
        "link in a store; remove the link (what it points to is left alone)"
    )


def refuse_link(path: Path) -> None:
    """Raise :class:`StoreLinkError` where ``path`` is a symbolic link (a missing one passes).

    Parameters
    ----------
    path : pathlib.Path
        A file or folder of the store's own.

    Raises
    ------
    StoreLinkError
        Naming ``path``, when it is a symbolic link.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import StoreLinkError, refuse_link
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     refuse_link(Path(folder) / "shards")  # missing: fine
    ...     os.symlink(folder, Path(folder) / "shards")
    ...     try:
    ...         refuse_link(Path(folder) / "shards")
    ...     except StoreLinkError:
    ...         print("refused")
    refused
    """
    if path.is_symlink():
        raise link_error(path)


def open_own(path: Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` of a store's own file, never through a symbolic link (``O_NOFOLLOW``).

    Parameters
    ----------
    path : pathlib.Path
        The file.
    flags : int
        ``os.O_*`` flags; ``O_NOFOLLOW`` and ``O_CLOEXEC`` are added.
    mode : int, default 0o666
        The mode of a file created (less the umask).

    Returns
    -------
    int
        The file descriptor.

    Raises
    ------
    StoreLinkError
        Naming ``path``, when it is a symbolic link (which is left as it is).
    OSError
        When it cannot be opened otherwise.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import StoreLinkError, open_own
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     target, link = Path(folder) / "target", Path(folder) / "embed.lock"
    ...     os.symlink(target, link)
    ...     try:
    ...         open_own(link, os.O_RDWR | os.O_CREAT)
    ...     except StoreLinkError:
    ...         print("refused; target created:", target.exists())
    refused; target created: False
    """
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError:
        refuse_link(path)
        raise


def open_own_file(path: Path) -> BinaryIO:
    """A store's own regular file, opened for reading without following a symbolic link.

    A FIFO or device in its place does not block the open: it is refused.

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    BinaryIO
        The open file.

    Raises
    ------
    StoreLinkError
        Naming ``path``, when it is a symbolic link.
    StoreError
        Naming ``path``, when it is not a regular file (a folder, a FIFO, ...).
    OSError
        When it cannot be opened (``FileNotFoundError`` where it does not exist).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import open_own_file
    >>> folder = tempfile.TemporaryDirectory()
    >>> _ = (Path(folder.name) / "index.json").write_text("{}")
    >>> with open_own_file(Path(folder.name) / "index.json") as handle:
    ...     print(handle.read())
    b'{}'
    >>> open_own_file(Path(folder.name))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.store.files.StoreError: /...: is not a regular file; seqsim keeps only its own files here
    >>> folder.cleanup()
    """
    descriptor = open_own(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise StoreError(f"{path}: is not a regular file; seqsim keeps only its own files here")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


def read_own_file(path: Path) -> bytes | None:
    """The bytes of a store's own file, or None where it is missing; never through a link.

    Parameters
    ----------
    path : pathlib.Path
        The file (``store.json``, ``index.json``, ...).

    Returns
    -------
    bytes or None
        Its contents; None where it, or its folder, does not exist.

    Raises
    ------
    StoreLinkError
        Naming ``path``, when it is a symbolic link.
    StoreError
        Naming ``path``, when it is not a regular file.
    OSError
        When it cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import read_own_file
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (Path(folder) / "store.json").write_text("{}")
    ...     print(read_own_file(Path(folder) / "store.json"), read_own_file(Path(folder) / "x"))
    b'{}' None
    """
    try:
        with open_own_file(path) as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


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

    It is created exclusively (``O_EXCL``), so nothing in its place, a symbolic link
    included, is ever written through.

    Parameters
    ----------
    path : pathlib.Path
        The file; it must not exist.

    Returns
    -------
    BinaryIO
        The open file.

    Raises
    ------
    StoreLinkError
        Naming ``path``, when a symbolic link is in its place.
    OSError
        When it cannot be created (``FileExistsError`` where something is in its place).

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
    descriptor = open_own(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
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
    file. A symbolic link at ``path`` is refused, never written through nor replaced.

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
    StoreLinkError
        Naming ``path``, when it is a symbolic link.

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
    refuse_link(path)
    try:
        check_free_space(path, needed)
        handle = create_file(temporary)
    except OSError as error:
        raise write_error(path, error, needed) from None
    try:
        with handle:
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


def make_own_folder(folder: Path) -> None:
    """:func:`make_folder` for a folder of the store's own (``shards``, ``writers``, ...).

    Parameters
    ----------
    folder : pathlib.Path
        The folder, created with its parents where missing.

    Raises
    ------
    StoreLinkError
        Naming the folder, when it is a symbolic link (to a folder or not).
    StoreWriteError
        Naming the folder and the reason, when it cannot be created.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.files import make_own_folder
    >>> with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as other:
    ...     make_own_folder(Path(folder) / "shards")
    ...     os.symlink(other, Path(folder) / "writers")
    ...     make_own_folder(Path(folder) / "writers")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.store.files.StoreLinkError: /.../writers: is a symbolic link; ...
    """
    refuse_link(folder)
    make_folder(folder)
