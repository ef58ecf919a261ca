"""Who writes a store, and whether they are still alive.

Every process that writes into a store first becomes an *owner*: it creates
``writers/<owner>.lock`` and holds an exclusive ``flock`` on it while it writes. The kernel
drops the lock when the process ends, however it ends (a crash, ``kill -9``), so a lock file
that can be locked belongs to a dead owner, and only then are that owner's temporary files
(:func:`seqsim.store.files.temporary_path`) removed. Nothing else in or around the store is
ever deleted.

``flock`` works on local filesystems and on NFSv4 (Linux maps it to NFS byte-range locks).
Lock files are opened without following symbolic links (:func:`seqsim.store.files.open_own`),
so a link planted in their place is refused by name, and what it points to is never written.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .files import (
    StoreError,
    StoreWriteError,
    make_own_folder,
    open_own,
    refuse_link,
    temporary_owner,
)

WRITERS = "writers"


class StoreBusyError(StoreError):
    """Another living process holds a lock this one needs; the message names it.

    Examples
    --------
    A second embed run on a store while one runs (here both in this process):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.locks import exclusive
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     lock = Path(folder) / "embed.lock"
    ...     with exclusive(lock, "embed run"), exclusive(lock, "embed run"):
    ...         pass  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.store.locks.StoreBusyError: /... is in use by another embed run (pid ...
    """


def _try_lock(descriptor: int, mode: int) -> bool:
    """Take a ``flock`` without waiting; False where someone else holds it."""
    try:
        fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise
    return True


def _new_owner_name() -> str:
    """``<host>-<pid>-<random>``, with no ``.`` (temporary file names are split at it)."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(4)}"


@contextmanager
def owner(store: Path) -> Iterator[str]:
    """Become a writer of ``store`` for the duration of the block.

    Creates ``writers/<owner>.lock`` and holds an exclusive ``flock`` on it until the block
    ends (or the process does, however it ends); the lock file is removed at the end.

    Parameters
    ----------
    store : pathlib.Path
        The store directory (its ``writers`` folder is created where missing).

    Yields
    ------
    str
        The owner name, ``<host>-<pid>-<random>``, unique among the store's writers.

    Raises
    ------
    StoreWriteError
        When the lock file cannot be created (a read-only store, permissions).
    StoreLinkError
        When ``writers`` is a symbolic link.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.locks import owner
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     writers = Path(folder) / "writers"
    ...     with owner(Path(folder)) as name:
    ...         print([lock.name for lock in writers.iterdir()] == [f"{name}.lock"])
    ...     print(list(writers.iterdir()))
    True
    []
    """
    folder = store / WRITERS
    make_own_folder(folder)
    while True:
        name = _new_owner_name()
        path = folder / f"{name}.lock"
        try:
            descriptor = open_own(path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            continue
        except OSError as error:
            raise StoreWriteError(f"{path}: cannot write: {error.strerror}") from None
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        # A cleaner may have taken the file for a dead owner's between creation and locking.
        if os.fstat(descriptor).st_ino == _inode(path):
            break
        os.close(descriptor)
    try:
        yield name
    finally:
        path.unlink(missing_ok=True)
        os.close(descriptor)


def _inode(path: Path) -> int | None:
    """The inode of ``path`` itself (a link is not followed), or None where it does not exist."""
    try:
        return path.lstat().st_ino
    except FileNotFoundError:
        return None


@contextmanager
def _if_dead(store: Path, name: str) -> Iterator[bool]:
    """Whether owner ``name`` is dead; while the block runs, no one can claim its lock file."""
    path = store / WRITERS / f"{name}.lock"
    try:
        descriptor = open_own(path, os.O_RDWR)
    except FileNotFoundError:
        yield True  # an owner removes its temporary files before its lock file
        return
    try:
        dead = _try_lock(descriptor, fcntl.LOCK_EX)
        yield dead
        if dead:
            path.unlink(missing_ok=True)
    finally:
        os.close(descriptor)


def remove_dead_owners_files(store: Path, folders: list[Path]) -> list[Path]:
    """Remove the temporary files in ``folders`` whose owners are dead, and those owners' locks.

    An owner is dead when its lock file can be locked (or is gone). Files not named as ours
    (:func:`seqsim.store.files.temporary_owner`) are never touched.

    Parameters
    ----------
    store : pathlib.Path
        The store directory (with ``writers/``).
    folders : list of pathlib.Path
        The folders to clean (missing ones are skipped).

    Returns
    -------
    list of pathlib.Path
        The temporary files removed (lock files not included).

    Raises
    ------
    StoreLinkError
        When ``writers`` or a lock file in it is a symbolic link.

    Examples
    --------
    A living owner's temporary file stays; one of an owner with no lock file goes:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.locks import owner, remove_dead_owners_files
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = Path(folder)
    ...     with owner(store) as alive:
    ...         _ = (store / f".seqsim-tmp.{alive}.a.npz").write_bytes(b"")
    ...         _ = (store / ".seqsim-tmp.gone-7-0000.b.npz").write_bytes(b"")
    ...         removed = remove_dead_owners_files(store, [store])
    ...     print([path.name for path in removed])
    ['.seqsim-tmp.gone-7-0000.b.npz']
    """
    by_owner: dict[str, list[Path]] = {}
    for folder in folders:
        if folder.is_dir():
            for path in folder.iterdir():
                name = temporary_owner(path)
                if name is not None:
                    by_owner.setdefault(name, []).append(path)
    writers = store / WRITERS
    refuse_link(writers)
    if writers.is_dir():
        for lock in writers.glob("*.lock"):
            by_owner.setdefault(lock.stem, [])
    removed = []
    for name, paths in by_owner.items():
        with _if_dead(store, name) as dead:
            if dead:
                for path in paths:
                    path.unlink(missing_ok=True)
                removed += paths
    return removed


@contextmanager
def exclusive(path: Path, purpose: str) -> Iterator[None]:
    """Hold ``path`` exclusively for the duration of the block, without waiting.

    The holder's pid, host and start time are written into the file, so that a process that
    finds it held can name the holder. The file itself stays.

    Parameters
    ----------
    path : pathlib.Path
        The lock file (created where missing).
    purpose : str
        What holds it, for the message (``"embed run"``).

    Raises
    ------
    StoreBusyError
        Naming the folder and the process that holds the lock (pid, host, since when).
    StoreWriteError
        When the lock file cannot be opened for writing.
    StoreLinkError
        When the lock file is a symbolic link (its target is left alone).

    Examples
    --------
    >>> import json, os, tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.locks import exclusive
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     lock = Path(folder) / "embed.lock"
    ...     with exclusive(lock, "embed run"):
    ...         print(json.loads(lock.read_text())["pid"] == os.getpid())
    True
    """
    try:
        descriptor = open_own(path, os.O_RDWR | os.O_CREAT)
    except OSError as error:
        raise StoreWriteError(f"{path}: cannot write: {error.strerror}") from None
    try:
        if not _try_lock(descriptor, fcntl.LOCK_EX):
            holder = _describe_holder(descriptor)
            raise StoreBusyError(
                f"{path.parent} is in use by another {purpose}{holder}; wait for it to finish, "
                "or use another store directory"
            )
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(record).encode(), 0)
        yield
    finally:
        os.close(descriptor)


def _describe_holder(descriptor: int) -> str:
    """`` (pid P on HOST, since TIME)`` from a held lock file; "" where it is unreadable."""
    try:
        record = json.loads(os.pread(descriptor, 4096, 0) or b"{}")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["since"]))
        return f" (pid {record['pid']} on {record['host']}, since {since})"
    except (ValueError, KeyError, TypeError):
        return ""


@contextmanager
def shared_or_exclusive(path: Path, exclusive_lock: bool) -> Iterator[None]:
    """Wait for a shared (readers) or exclusive (consolidation) lock on ``path``.

    A store on a read-only filesystem without the lock file is read unlocked: no one can write
    it anyway.

    Parameters
    ----------
    path : pathlib.Path
        The lock file (created where missing and possible).
    exclusive_lock : bool
        Take the exclusive lock (a consolidation) instead of a shared one (a reader).

    Raises
    ------
    StoreWriteError
        When the exclusive lock is asked for and the lock file cannot be opened for writing.
    StoreLinkError
        When the lock file is a symbolic link (its target is neither created nor written).

    Examples
    --------
    Readers share the lock:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.store.locks import shared_or_exclusive
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     lock = Path(folder) / "consolidate.lock"
    ...     with shared_or_exclusive(lock, False), shared_or_exclusive(lock, False):
    ...         print("two readers")
    two readers
    """
    try:
        descriptor = open_own(path, os.O_RDWR | os.O_CREAT)
    except OSError as error:
        if exclusive_lock:
            raise StoreWriteError(f"{path}: cannot write: {error.strerror}") from None
        if not path.exists():
            yield
            return
        descriptor = open_own(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive_lock else fcntl.LOCK_SH)
        yield
    finally:
        os.close(descriptor)
